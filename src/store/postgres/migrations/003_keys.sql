CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  sealed_private_key BYTEA NOT NULL,
  create_time BIGINT NOT NULL,
  activate_time BIGINT NOT NULL,
  retire_time BIGINT
);

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
