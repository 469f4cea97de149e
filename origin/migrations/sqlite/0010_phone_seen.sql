-- When the phone's DM session last answered while the browser's user decides (each held
-- package 4 it answers): a session whose phone stopped answering ends instead of stranding.
-- 0: not known (sessions from before this column).
ALTER TABLE portal_sessions ADD COLUMN phone_seen_at BIGINT NOT NULL DEFAULT 0;
