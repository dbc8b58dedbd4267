import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "./config.js";

/**
 * The key-encryption key that seals signing keys at rest: from
 * AUTHZ_KEY_ENCRYPTION_KEY (base64url, 32 bytes) when set; otherwise from
 * `authz.kek` beside the data file, created with mode 0600 on first start; an
 * ephemeral random key for `:memory:` stores. Keep the file out of database
 * backups, or the backups carry their own key.
 */
export function loadKek(config: Pick<Config, "dataFile" | "keyEncryptionKey">): { kek: Buffer; source: string } {
  if (config.keyEncryptionKey) return { kek: Buffer.from(config.keyEncryptionKey, "base64url"), source: "environment" };
  if (config.dataFile === ":memory:") return { kek: randomBytes(32), source: "ephemeral" };
  const file = join(dirname(config.dataFile), "authz.kek");
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64url") + "\n", { mode: 0o600, flag: "wx" });
  }
  chmodSync(file, 0o600);
  const kek = Buffer.from(readFileSync(file, "utf8").trim(), "base64url");
  if (kek.length !== 32) throw new Error(`${file} does not hold a 32-byte base64url key`);
  return { kek, source: file };
}
