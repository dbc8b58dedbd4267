-- Token signing keys. The private key is sealed with AES-256-GCM under a
-- key-encryption key that is not in this database (see src/domain/keys.ts).
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  sealed_private_key BLOB NOT NULL,
  create_time INTEGER NOT NULL,
  activate_time INTEGER NOT NULL,
  retire_time INTEGER
);

-- Small settings of the service itself (e.g. whether the admin was bootstrapped).
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
