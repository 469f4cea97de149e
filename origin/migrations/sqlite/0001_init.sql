-- portaldm origin schema, version 1.
CREATE TABLE packages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    kind        TEXT    NOT NULL DEFAULT 'firmware',
    models      TEXT    NOT NULL,            -- JSON array of model patterns
    base_min    TEXT,
    base_max    TEXT,
    blob        TEXT    NOT NULL,            -- SHA-256 hex of the bytes
    size        INTEGER NOT NULL,
    notes       TEXT    NOT NULL DEFAULT '',
    published   INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

CREATE TABLE devices (
    dev_id      TEXT    PRIMARY KEY,
    details     TEXT    NOT NULL,            -- JSON DeviceDetails
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
);

CREATE TABLE used_tokens (
    jti         TEXT    PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE portal_sessions (
    sid         TEXT    PRIMARY KEY,
    bnd         TEXT    NOT NULL,
    nsid        INTEGER NOT NULL,
    dev_id      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    device      TEXT    NOT NULL,            -- JSON DeviceDetails
    package_id  INTEGER,
    delivery    TEXT,                        -- JSON FumoDelivery
    correlator  TEXT    UNIQUE,
    exec_status INTEGER,
    result_code INTEGER,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE dm_sessions (
    dev_id      TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    session     TEXT    NOT NULL,            -- JSON ServerSession
    last_reply  BLOB,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (dev_id, session_id)
);

CREATE TABLE results (
    correlator  TEXT    PRIMARY KEY,
    dev_id      TEXT    NOT NULL,
    portal_sid  TEXT    NOT NULL,
    package_id  INTEGER,
    code        INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);
