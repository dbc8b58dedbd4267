import type { Store } from "../repositories.js";
import { sqliteApiServers } from "./api_servers.js";
import { sqliteAudit } from "./audit.js";
import { sqliteClients } from "./clients.js";
import { sqliteGrants } from "./grants.js";
import { sqliteKeys } from "./keys.js";
import { sqliteTokenState } from "./token_state.js";
import { guarded } from "../faults.js";
import { isStoreFault, openDatabase, type Db } from "./db.js";

/**
 * The SQLite store: one file (or `:memory:`), WAL, migrated on open. Every
 * repository is guarded: a fault of the file (SQLITE_FULL, I/O errors, busy
 * past the timeout) is `Unavailable`, never a wrong answer.
 */
export function openSqliteStore(file: string): Store & { db: Db } {
  const db = openDatabase(file);
  const guard = <T extends object>(repository: T): T => guarded(repository, isStoreFault);
  return {
    db,
    apiServers: guard(sqliteApiServers(db)),
    clients: guard(sqliteClients(db)),
    grants: guard(sqliteGrants(db)),
    keys: guard(sqliteKeys(db)),
    meta: guard({
      get: (key: string) => (db.prepare("SELECT value FROM meta WHERE key = ?").pluck().get(key) as string | undefined) ?? undefined,
      set: (key: string, value: string) => void db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value),
    }),
    audit: guard(sqliteAudit(db)),
    tokenState: guard(sqliteTokenState(db)),
    ...guard({ transaction: <T>(fn: () => T): T => db.transaction(fn)() }),
    close: () => db.close(),
  };
}
