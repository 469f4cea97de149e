-- Every write of a DM session counts up, so that a held message's writes (parking its session,
-- saving its answer) land only on the row they read: another copy of the message, or the
-- session's next message, may have written it meanwhile.
ALTER TABLE dm_sessions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
