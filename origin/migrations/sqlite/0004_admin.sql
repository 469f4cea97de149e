-- Admin bearer tokens (shared::admin::token): the secret only as its SHA-256.
CREATE TABLE admin_tokens (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    secret_sha256 TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

-- Every admin change, written in the same transaction as the change.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT    NOT NULL             -- JSON
);

ALTER TABLE packages ADD COLUMN revoked_at INTEGER;
CREATE INDEX portal_sessions_updated ON portal_sessions (updated_at);
