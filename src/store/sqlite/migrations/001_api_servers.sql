-- API servers. `seq` gives the stable list order (and page tokens); `version`
-- feeds the etag. Lists and nested values are JSON text: they are always read
-- and written whole with their API server.
CREATE TABLE api_servers (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  identifier TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  audiences TEXT NOT NULL DEFAULT '[]',
  permissions TEXT NOT NULL DEFAULT '[]',
  signing_alg TEXT NOT NULL,
  token_lifetime_seconds INTEGER NOT NULL,
  token_dialect TEXT NOT NULL,
  enforce_policies INTEGER NOT NULL DEFAULT 0,
  allow_offline_access INTEGER NOT NULL DEFAULT 0,
  refresh_token_lifetime_seconds INTEGER NOT NULL,
  skip_consent INTEGER NOT NULL DEFAULT 0,
  dynamic_client_access INTEGER NOT NULL DEFAULT 0,
  dynamic_client_scopes TEXT NOT NULL DEFAULT '[]',
  system INTEGER NOT NULL DEFAULT 0,
  create_time INTEGER NOT NULL,
  update_time INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);

-- Every value that selects an API server (its identifier and extra audiences),
-- unique across all API servers.
CREATE TABLE api_server_audiences (
  audience TEXT PRIMARY KEY,
  api_server_id TEXT NOT NULL REFERENCES api_servers(id) ON DELETE CASCADE
);
CREATE INDEX api_server_audiences_by_server ON api_server_audiences(api_server_id);
