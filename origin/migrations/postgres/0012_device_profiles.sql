-- Device profiles (shared::profile): how one handset model's own DM client is served, matched
-- by maker and model patterns like catalog packages. NULL: not known, the session finds out.
CREATE TABLE device_profiles (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    man          TEXT,                        -- maker pattern
    models       TEXT    NOT NULL,            -- JSON array of model patterns
    fumo_root    TEXT,
    scomo_root   TEXT,
    encoding     TEXT,                        -- xml | wbxml
    auth_scheme  TEXT,                        -- basic | md5 | hmac
    max_msg_size BIGINT,
    hold_secs    BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
