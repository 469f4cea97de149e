-- Admin console sign-ins: the cookie's secret only as SHA-256 (the form token is derived
-- from it, shared::admin::console), the admin token they came from, and when they end.
CREATE TABLE console_sessions (
    id            TEXT    PRIMARY KEY,
    secret_sha256 TEXT    NOT NULL,
    token_id      TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX results_recorded ON results (recorded_at);
