-- Read-only admin tokens: they may read the admin API and the console, and change nothing.
ALTER TABLE admin_tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
