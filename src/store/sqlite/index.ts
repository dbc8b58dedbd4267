import type { Store } from "../repositories.js";
import { sqliteApiServers } from "./api_servers.js";
import { openDatabase, type Db } from "./db.js";

/** The SQLite store: one file (or `:memory:`), WAL, migrated on open. */
export function openSqliteStore(file: string): Store & { db: Db } {
  const db = openDatabase(file);
  return {
    db,
    apiServers: sqliteApiServers(db),
    transaction: (fn) => db.transaction(fn)(),
    close: () => db.close(),
  };
}
