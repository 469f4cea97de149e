-- The portal session a DM session serves (NULL: none, or saved before this column), so that
-- looking the DM session up reads its portal session in the same statement.
ALTER TABLE dm_sessions ADD COLUMN portal_sid TEXT;
