import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ConfigError, type Config } from "../config.js";

/** The key file's name, beside the data file. */
export const KEK_FILE_NAME = "authz.kek";

/**
 * The key-encryption key that seals signing keys at rest (src/domain/key_crypto.ts):
 * - AUTHZ_KEY_ENCRYPTION_KEY (config `keyEncryptionKey`, base64url of 32 bytes) when set;
 * - else `authz.kek` beside the data file, created with mode 0600 on first
 *   start (exclusive create, so two first starts cannot write two keys) and
 *   read as is afterwards (a file you provide, e.g. a read-only secret
 *   mount, is not touched);
 * - for `:memory:` stores a random key per process (nothing outlives it).
 * Keep the file out of database backups, or the backups carry their own key.
 * `created`: this call made the key (main.ts warns: back it up).
 */
export function loadKek(config: Pick<Config, "dataFile" | "keyEncryptionKey">, storeHasKeys: boolean): { kek: Buffer; source: string; created: boolean } {
  if (config.keyEncryptionKey) return { kek: Buffer.from(config.keyEncryptionKey, "base64url"), source: "environment", created: false };
  if (config.dataFile === ":memory:") return { kek: randomBytes(32), source: "ephemeral", created: true };
  const file = join(dirname(config.dataFile), KEK_FILE_NAME);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let created = false;
  // A new key only for a store that holds no sealed keys yet: for one that does,
  // a fresh key could never open them, so a missing file is a clear error instead.
  if (!existsSync(file) && storeHasKeys) {
    throw new ConfigError([`${file} is missing, but the store holds signing keys sealed with a key-encryption key: restore the file (or set AUTHZ_KEY_ENCRYPTION_KEY)`]);
  }
  try {
    writeFileSync(file, randomBytes(32).toString("base64url") + "\n", { mode: 0o600, flag: "wx" });
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const text = readFileSync(file, "utf8").trim();
  // Strict alphabet: Node's base64url decoder skips unknown characters instead of failing.
  if (!/^[A-Za-z0-9_-]{43}=?$/.test(text)) throw new ConfigError([`${file} does not hold a base64url key of 32 bytes`]);
  return { kek: Buffer.from(text, "base64url"), source: file, created };
}
