-- A trigger its browser has shown (the token in its `pdmt` cookie): a portal session waiting
-- for its phone, which a stock DM client's session binds to by the package #0 session id
-- (shared::stock). The JSON is a shared::stock::LiveTrigger; '{}' for other sessions.
ALTER TABLE portal_sessions ADD COLUMN live_trigger TEXT NOT NULL DEFAULT '{}';
CREATE INDEX portal_sessions_waiting ON portal_sessions (nsid) WHERE state = 'waiting';
