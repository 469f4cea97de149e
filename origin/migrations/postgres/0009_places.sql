-- Packages limited by place (shared::catalog::Place): countries (ISO 3166-1 alpha-2) and
-- operators (the `iss` of their edge); empty: no limit. A portal session keeps where it came
-- from (the token's country and issuer) as JSON.
ALTER TABLE packages ADD COLUMN countries TEXT NOT NULL DEFAULT '[]';  -- JSON array
ALTER TABLE packages ADD COLUMN operators TEXT NOT NULL DEFAULT '[]';  -- JSON array
ALTER TABLE portal_sessions ADD COLUMN place TEXT NOT NULL DEFAULT '{}';  -- JSON object
