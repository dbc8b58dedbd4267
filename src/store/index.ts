import { fileURLToPath } from "node:url";
import type { DomainData, TransactionControl } from "../domain/ports.js";
import type { Logger } from "../log.js";
import type { RefreshTokenRepository } from "../oauth/ports.js";
import type { KeyRepository } from "../tokens/keys.js";
import { openPostgres } from "./postgres/database.js";
import { apiServerRepository } from "./sql/api_servers.js";
import { auditRepository } from "./sql/audit.js";
import { changeRepository } from "./sql/changes.js";
import { clientRepository } from "./sql/clients.js";
import { LOCKS, permissionsLock, type InTransaction, type SqlDatabase, type SqlExecutor, type SqlTransaction } from "./sql/executor.js";
import { grantRepository } from "./sql/grants.js";
import { keyRepository } from "./sql/keys.js";
import { metaRepository } from "./sql/meta.js";
import { migrate } from "./sql/migrate.js";
import { assertionJtiRepository, purgeExpiredTokenState, refreshTokenRepository, revokedTokenRepository } from "./sql/token_state.js";
import { openSqlite } from "./sqlite/database.js";

/** Every repository, bound to the database or to one transaction. */
export interface StoreData extends DomainData {
  keys: KeyRepository;
  refreshTokens: RefreshTokenRepository;
  revokedTokens: ReturnType<typeof revokedTokenRepository>;
  assertionJtis: ReturnType<typeof assertionJtiRepository>;
}

export type StoreTx = StoreData & TransactionControl;

/**
 * The store: the ports of the domain, OAuth and the key ring over one SQL
 * database, SQLite (embedded, the default) or PostgreSQL (several replicas).
 */
export interface Store extends StoreData {
  readonly dialect: SqlDatabase["dialect"];
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Drops token state whose tokens have expired anyway. */
  purgeExpired(nowSeconds: number): Promise<number>;
  /** The change feed's wake-up hint, where the engine has one (PostgreSQL LISTEN/NOTIFY). */
  notified?: (listener: () => void) => () => void;
  close(): Promise<void>;
}

function data(q: SqlExecutor, inTransaction: InTransaction, tx?: SqlTransaction): StoreData {
  return {
    apiServers: apiServerRepository(q),
    clients: clientRepository(q),
    grants: grantRepository(q),
    audit: auditRepository(q),
    meta: metaRepository(q),
    changes: changeRepository(q, tx),
    keys: keyRepository(q),
    refreshTokens: refreshTokenRepository(q, inTransaction),
    revokedTokens: revokedTokenRepository(q),
    assertionJtis: assertionJtiRepository(q),
  };
}

/**
 * The repositories outside a caller's transaction. An API server's insert and
 * update write two tables (the row, then its audiences): each runs in a
 * transaction of its own, so a taken audience leaves nothing half-written.
 */
function standalone(db: SqlDatabase): StoreData {
  const d = data(db, (fn) => db.transaction(fn));
  return {
    ...d,
    apiServers: {
      ...d.apiServers,
      insert: (server) => db.transaction((tx) => apiServerRepository(tx).insert(server)),
      update: (server) => db.transaction((tx) => apiServerRepository(tx).update(server)),
    },
  };
}

/** The store over an open database. */
export function storeOn(db: SqlDatabase): Store {
  return {
    dialect: db.dialect,
    ...standalone(db),
    transaction: (fn) => db.transaction((tx) => fn({ ...data(tx, (work) => work(tx), tx), lock: (name) => tx.lock(LOCKS[name]), lockPermissions: (id) => tx.lock(permissionsLock(id)) })),
    purgeExpired: (now) => purgeExpiredTokenState(db, now),
    notified: db.onChangesNotified?.bind(db),
    close: () => db.close(),
  };
}

export interface StoreOptions {
  /** `postgres://...` for PostgreSQL; empty for SQLite at `dataFile`. */
  databaseUrl: string;
  dataFile: string;
  /** How long a SQLite writer waits for another process's lock; a PostgreSQL query's timeout (ms). */
  storeTimeoutMs: number;
  postgresPoolSize: number;
  /** PostgreSQL schema for the tables (tests); empty for the connection's default. */
  postgresSchema?: string;
  logger: Logger;
}

export const MIGRATIONS = {
  sqlite: fileURLToPath(new URL("./sqlite/migrations/", import.meta.url)),
  postgres: fileURLToPath(new URL("./postgres/migrations/", import.meta.url)),
};

/** Opens (creating if needed) and migrates the configured store. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const db = options.databaseUrl
    ? openPostgres({ url: options.databaseUrl, poolSize: options.postgresPoolSize, queryTimeoutMs: options.storeTimeoutMs, schema: options.postgresSchema, logger: options.logger })
    : openSqlite(options.dataFile, { busyTimeoutMs: options.storeTimeoutMs });
  try {
    if (options.postgresSchema) await db.run(`CREATE SCHEMA IF NOT EXISTS ${options.postgresSchema}`);
    await migrate(db, MIGRATIONS[db.dialect]);
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  return storeOn(db);
}
