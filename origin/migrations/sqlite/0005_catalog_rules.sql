-- Catalog rules beyond model and base range (shared::catalog): hardware revisions, deltas,
-- staged rollouts, release notes per language. Drafts: published = 0 and revoked_at NULL.
ALTER TABLE packages ADD COLUMN hw_revisions    TEXT    NOT NULL DEFAULT '[]';  -- JSON array
ALTER TABLE packages ADD COLUMN delta_from      TEXT;
ALTER TABLE packages ADD COLUMN rollout_percent INTEGER NOT NULL DEFAULT 100;
ALTER TABLE packages ADD COLUMN notes_by_lang   TEXT    NOT NULL DEFAULT '{}';  -- JSON object
-- Packages revoked before revoked_at existed (0004) were unpublished: mark them revoked, so
-- that they are not taken for drafts.
UPDATE packages SET revoked_at = created_at WHERE published = 0 AND revoked_at IS NULL;
