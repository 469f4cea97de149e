-- portaldm origin schema, version 1 (PostgreSQL; the same tables as the SQLite migration).
CREATE TABLE packages (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    kind        TEXT    NOT NULL DEFAULT 'firmware',
    models      TEXT    NOT NULL,            -- JSON array of model patterns
    base_min    TEXT,
    base_max    TEXT,
    blob        TEXT    NOT NULL,            -- SHA-256 hex of the bytes
    size        BIGINT  NOT NULL,
    notes       TEXT    NOT NULL DEFAULT '',
    published   BIGINT  NOT NULL DEFAULT 1,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE devices (
    dev_id      TEXT    PRIMARY KEY,
    details     TEXT    NOT NULL,            -- JSON DeviceDetails
    first_seen  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL
);

CREATE TABLE used_tokens (
    jti         TEXT    PRIMARY KEY,
    expires_at  BIGINT  NOT NULL
);

CREATE TABLE portal_sessions (
    sid         TEXT    PRIMARY KEY,
    bnd         TEXT    NOT NULL,
    nsid        BIGINT  NOT NULL,
    dev_id      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    device      TEXT    NOT NULL,            -- JSON DeviceDetails
    package_id  BIGINT,
    delivery    TEXT,                        -- JSON FumoDelivery
    correlator  TEXT    UNIQUE,
    exec_status BIGINT,
    result_code BIGINT,
    expires_at  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE dm_sessions (
    dev_id      TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    session     TEXT    NOT NULL,            -- JSON ServerSession
    last_reply  BYTEA,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (dev_id, session_id)
);

CREATE TABLE results (
    correlator  TEXT    PRIMARY KEY,
    dev_id      TEXT    NOT NULL,
    portal_sid  TEXT    NOT NULL,
    package_id  BIGINT,
    code        BIGINT  NOT NULL,
    recorded_at BIGINT  NOT NULL
);
