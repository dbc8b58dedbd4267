-- Revoked access tokens by jti, kept until the token would have expired anyway
-- (then purged). Clients' bulk revocation uses clients.tokens_valid_after instead.
CREATE TABLE revoked_tokens (
  jti TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens(expires_at);

-- Refresh tokens: opaque, stored as SHA-256 digests. Each use rotates the token
-- within its family; using a rotated token again revokes the whole family.
CREATE TABLE refresh_tokens (
  token_hash BLOB PRIMARY KEY,
  family_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  api_server_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  issued_at_ms INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

-- private_key_jwt assertion ids seen, kept until the assertion expires (RFC 7523 §3).
CREATE TABLE used_assertions (
  client_id TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX used_assertions_by_expiry ON used_assertions(expires_at);
