import Database from "better-sqlite3";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { Unavailable } from "../../errors.js";
import { UniqueViolation, type SqlDatabase, type SqlExecutor, type SqlTransaction } from "../sql/executor.js";

export type Db = Database.Database;

/**
 * SQLite behind the store's SqlDatabase interface. better-sqlite3 is
 * synchronous; the interface is not, so transactions are serialised in this
 * process (a promise chain) and run on the write connection with BEGIN
 * IMMEDIATE (which also serialises them with other processes on the file,
 * waiting up to the busy timeout). Reads outside a transaction use a second,
 * read-only connection, so they see only committed data even while a
 * transaction is open.
 */
export function openSqlite(file: string, options: { busyTimeoutMs: number }): SqlDatabase & { writer: Db } {
  if (file !== ":memory:") createPrivately(file);
  const writer = new Database(file);
  writer.pragma("journal_mode = WAL");
  writer.pragma("synchronous = NORMAL"); // durable at checkpoints; safe with WAL
  writer.pragma("foreign_keys = ON");
  writer.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
  // `:memory:` is private to its connection: reads must use the same one.
  const reader = file === ":memory:" ? writer : new Database(file, { readonly: true });
  if (reader !== writer) reader.pragma(`busy_timeout = ${options.busyTimeoutMs}`);

  const onWriter = executor(writer);
  const onReader = executor(reader);
  let queue: Promise<unknown> = Promise.resolve();
  // Prepared once: preparing BEGIN and COMMIT for every transaction made a
  // single-row write (a DPoP proof's jti) cost 50 µs instead of 30.
  const begin = writer.prepare("BEGIN IMMEDIATE");
  const commit = writer.prepare("COMMIT");
  const rollback = writer.prepare("ROLLBACK");
  const inTransaction: SqlTransaction = { ...onWriter, lock: async () => {}, notifyChanges: async () => {}, exec: async (script) => guard(() => void writer.exec(script)) };
  // A statement that writes but returns rows (INSERT ... RETURNING) is read
  // through `get`/`all` too: outside a transaction it must go to the write
  // connection (the reader is read-only), as its own transaction.
  const writes = new Map<string, boolean>();
  const isWrite = (sql: string) => {
    let w = writes.get(sql);
    if (w === undefined) writes.set(sql, (w = !guard(() => writer.prepare(sql)).readonly));
    return w;
  };

  return {
    dialect: "sqlite",
    writer,
    all: async (sql, params) => (isWrite(sql) ? transaction((tx) => tx.all(sql, params)) : onReader.all(sql, params)),
    get: async (sql, params) => (isWrite(sql) ? transaction((tx) => tx.get(sql, params)) : onReader.get(sql, params)),
    // A write outside a transaction is its own transaction, in line with the others.
    run: (sql, params) => transaction((tx) => tx.run(sql, params)),
    transaction,
    async close() {
      await queue.catch(() => {});
      if (reader !== writer) reader.close();
      writer.close();
    },
  };

  function transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    const run = queue.then(async () => {
      guard(() => begin.run());
      try {
        const result = await fn(inTransaction);
        guard(() => commit.run());
        return result;
      } catch (err) {
        if (writer.inTransaction) rollback.run();
        throw err;
      }
    });
    queue = run.catch(() => {});
    return run;
  }
}

function executor(db: Db): SqlExecutor {
  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string) => {
    let stmt = statements.get(sql);
    if (!stmt) statements.set(sql, (stmt = db.prepare(sql)));
    return stmt;
  };
  return {
    all: async <R>(sql: string, params: readonly unknown[] = []) => guard(() => prepare(sql).all(...bind(params)) as R[]),
    get: async <R>(sql: string, params: readonly unknown[] = []) => guard(() => prepare(sql).get(...bind(params)) as R | undefined),
    run: async (sql: string, params: readonly unknown[] = []) => guard(() => ({ changes: prepare(sql).run(...bind(params)).changes })),
  };
}

/** better-sqlite3 takes no booleans or undefined. */
function bind(params: readonly unknown[]): unknown[] {
  return params.map((p) => (p === true ? 1 : p === false ? 0 : p === undefined ? null : p));
}

/**
 * Driver errors to the store's two kinds: a UNIQUE/PRIMARY KEY violation is
 * UniqueViolation; any other SQLite error (SQLITE_FULL, I/O, busy past the
 * timeout, read-only) or a closed connection is Unavailable. Other constraint
 * violations (foreign keys, NOT NULL) are bugs and pass through as they are.
 */
function guard<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    const code = String((err as { code?: unknown }).code ?? "");
    if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") throw new UniqueViolation(constraintOf(err), err);
    if (code.startsWith("SQLITE_CONSTRAINT")) throw err;
    if (code.startsWith("SQLITE_") || (err instanceof TypeError && /database connection is not open/.test(err.message))) throw new Unavailable("the store", err);
    throw err;
  }
}

/** `UNIQUE constraint failed: api_server_audiences.audience` -> `api_server_audiences.audience`. */
function constraintOf(err: unknown): string {
  return /failed: (.+)$/.exec((err as Error).message)?.[1] ?? "unknown";
}

/**
 * The data directory (0700) and file (0600) are created private: the file
 * holds secret digests and sealed keys. SQLite gives its -wal and -shm files
 * the database file's permissions, so they are private too.
 */
function createPrivately(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}
