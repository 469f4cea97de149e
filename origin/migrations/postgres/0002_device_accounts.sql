-- DM accounts per device (auth::Account as JSON: scheme and account keys, never passwords)
-- and the server's authentication state for it (auth::server::ServerAuth: nonces, tries).
CREATE TABLE device_accounts (
    dev_id      TEXT    PRIMARY KEY,
    account     TEXT    NOT NULL,
    auth_state  TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL
);
