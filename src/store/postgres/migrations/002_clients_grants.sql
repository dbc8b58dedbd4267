CREATE TABLE clients (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  client_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL,
  grant_types TEXT NOT NULL,
  disabled SMALLINT NOT NULL DEFAULT 0,
  dynamic SMALLINT NOT NULL DEFAULT 0,
  metadata TEXT NOT NULL DEFAULT '{}',
  jwks TEXT,
  secrets TEXT NOT NULL,
  tokens_issued BIGINT NOT NULL DEFAULT 0,
  last_issue_time BIGINT,
  tokens_valid_after BIGINT NOT NULL DEFAULT 0,
  create_time BIGINT NOT NULL,
  update_time BIGINT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE grants (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
  api_server_id TEXT NOT NULL REFERENCES api_servers(id) ON DELETE CASCADE,
  scopes TEXT NOT NULL DEFAULT '[]',
  allow_all_scopes SMALLINT NOT NULL DEFAULT 0,
  create_time BIGINT NOT NULL,
  update_time BIGINT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  UNIQUE (client_id, api_server_id)
);
CREATE INDEX grants_by_api_server ON grants(api_server_id, seq);
CREATE INDEX grants_by_client ON grants(client_id, seq);
