import { createHash } from "node:crypto";

/**
 * What the repositories need from a SQL database, the same for SQLite and
 * PostgreSQL: parameterised statements (`?` placeholders; the PostgreSQL
 * adapter numbers them), in or out of a transaction. Adapters turn driver
 * errors into two kinds: `UniqueViolation` (the repositories turn it into a
 * domain conflict) and `Unavailable` (any fault of the database); nothing else
 * of the driver leaks.
 */
export interface SqlExecutor {
  all<R>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  get<R>(sql: string, params?: readonly unknown[]): Promise<R | undefined>;
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
}

export interface SqlTransaction extends SqlExecutor {
  /**
   * Serialises this transaction with every other one taking the same lock, on
   * every replica, until it ends (PostgreSQL: pg_advisory_xact_lock; SQLite:
   * writers are serialised already).
   */
  lock(key: number): Promise<void>;
  /** Wakes the replicas following the change feed once this transaction commits (a hint; the table is the truth). */
  notifyChanges(): Promise<void>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface SqlDatabase extends SqlExecutor {
  readonly dialect: "sqlite" | "postgres";
  /** Runs `fn` in one transaction: every write in it commits together, or none does (a throw rolls back). */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /** Calls `listener` when another replica may have appended changes; returns the unsubscribe. Absent where the engine cannot. */
  onChangesNotified?(listener: () => void): () => void;
  close(): Promise<void>;
}

/** A UNIQUE or PRIMARY KEY constraint refused a write. */
export class UniqueViolation extends Error {
  override name = "UniqueViolation";
  constructor(readonly constraint: string, cause?: unknown) {
    super(`unique constraint ${constraint} violated`, { cause });
  }
}

/** Runs `fn` in the transaction at hand, or in one of its own outside any. */
export type InTransaction = <T>(fn: (tx: SqlTransaction) => Promise<T>) => Promise<T>;

/** Lock keys (pg_advisory_xact_lock takes a bigint): one per thing that must happen once across replicas. */
export const LOCKS = {
  /** Appending to the change feed: changes commit in sequence order, so followers never skip one. */
  changeFeed: 7_110_001,
  /** First-start admin and initial signing keys. */
  bootstrap: 7_110_002,
  /** Schema migrations. */
  migrations: 7_110_003,
  /** Key rotation: the check on the stored keys and the write that follows it. */
  signingKeys: 7_110_004,
  /** Changes that could leave no full administrator: the check and the write that follows it. */
  administrators: 7_110_005,
} as const;

/**
 * The lock of one refresh-token family: 2^40 plus 48 bits of its id's
 * SHA-256, apart from every LOCKS key (exact as a JS number). Two families
 * sharing a key only take turns.
 */
export function familyLock(familyId: string): number {
  return keyed(2 ** 40, familyId);
}

/** The lock of one API server's permissions: as familyLock, from 2^49 (past every family key). */
export function permissionsLock(apiServerId: string): number {
  return keyed(2 ** 49, apiServerId);
}

function keyed(base: number, id: string): number {
  return base + createHash("sha256").update(id).digest().readUIntBE(0, 6);
}
