-- Package signatures (shared::pkgsig): kid.base64url Ed25519 over the SHA-256 and size.
ALTER TABLE packages ADD COLUMN signature TEXT;
