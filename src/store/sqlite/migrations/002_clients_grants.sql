-- Clients. Secrets are SHA-256 digests (JSON list, at most two live); the
-- secret values are never stored. tokens_valid_after (ms) revokes every token
-- issued before it without a row per token.
CREATE TABLE clients (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  client_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  dynamic INTEGER NOT NULL DEFAULT 0,
  metadata TEXT NOT NULL DEFAULT '{}',
  jwks TEXT,
  secrets TEXT NOT NULL,
  tokens_issued INTEGER NOT NULL DEFAULT 0,
  last_issue_time INTEGER,
  tokens_valid_after INTEGER NOT NULL DEFAULT 0,
  create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);

-- One grant per (client, API server); deleting either deletes its grants.
CREATE TABLE grants (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
  api_server_id TEXT NOT NULL REFERENCES api_servers(id) ON DELETE CASCADE,
  scopes TEXT NOT NULL DEFAULT '[]',
  allow_all_scopes INTEGER NOT NULL DEFAULT 0,
  create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  UNIQUE (client_id, api_server_id)
);
CREATE INDEX grants_by_api_server ON grants(api_server_id, seq);
CREATE INDEX grants_by_client ON grants(client_id, seq);
