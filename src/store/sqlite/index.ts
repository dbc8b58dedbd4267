import type { Store } from "../repositories.js";
import { sqliteApiServers } from "./api_servers.js";
import { sqliteAudit } from "./audit.js";
import { sqliteClients } from "./clients.js";
import { sqliteGrants } from "./grants.js";
import { sqliteKeys } from "./keys.js";
import { sqliteTokenState } from "./token_state.js";
import { openDatabase, type Db } from "./db.js";

/** The SQLite store: one file (or `:memory:`), WAL, migrated on open. */
export function openSqliteStore(file: string): Store & { db: Db } {
  const db = openDatabase(file);
  return {
    db,
    apiServers: sqliteApiServers(db),
    clients: sqliteClients(db),
    grants: sqliteGrants(db),
    keys: sqliteKeys(db),
    meta: {
      get: (key) => (db.prepare("SELECT value FROM meta WHERE key = ?").pluck().get(key) as string | undefined) ?? undefined,
      set: (key, value) => void db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value),
    },
    audit: sqliteAudit(db),
    tokenState: sqliteTokenState(db),
    transaction: (fn) => db.transaction(fn)(),
    close: () => db.close(),
  };
}
