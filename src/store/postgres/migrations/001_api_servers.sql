-- API servers (see the SQLite migration of the same number for the model).
-- Lists and nested values are JSON text, read and written whole; booleans are
-- 0/1 SMALLINTs and times epoch milliseconds, as in SQLite, so both dialects
-- share their statements.
CREATE TABLE api_servers (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  identifier TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  audiences TEXT NOT NULL DEFAULT '[]',
  permissions TEXT NOT NULL DEFAULT '[]',
  signing_alg TEXT NOT NULL,
  token_lifetime_seconds INTEGER NOT NULL,
  token_dialect TEXT NOT NULL,
  enforce_policies SMALLINT NOT NULL DEFAULT 0,
  allow_offline_access SMALLINT NOT NULL DEFAULT 0,
  refresh_token_lifetime_seconds INTEGER NOT NULL,
  skip_consent SMALLINT NOT NULL DEFAULT 0,
  dynamic_client_access SMALLINT NOT NULL DEFAULT 0,
  dynamic_client_scopes TEXT NOT NULL DEFAULT '[]',
  system SMALLINT NOT NULL DEFAULT 0,
  create_time BIGINT NOT NULL,
  update_time BIGINT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE api_server_audiences (
  audience TEXT PRIMARY KEY,
  api_server_id TEXT NOT NULL REFERENCES api_servers(id) ON DELETE CASCADE
);
CREATE INDEX api_server_audiences_by_server ON api_server_audiences(api_server_id);
