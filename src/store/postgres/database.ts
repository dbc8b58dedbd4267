import pg from "pg";
import { Unavailable } from "../../errors.js";
import type { Logger } from "../../log.js";
import { UniqueViolation, type SqlDatabase, type SqlExecutor, type SqlTransaction } from "../sql/executor.js";

export interface PostgresOptions {
  url: string;
  /** Connections in the pool. */
  poolSize: number;
  /** A query (or a wait for a pooled connection) is abandoned after this long, ms: a store that hangs is a store that is down. */
  queryTimeoutMs: number;
  /** Tables live in this schema (created if missing); empty: the connection's default. Tests give each server its own. */
  schema?: string;
  logger: Logger;
}

/** int8 (BIGINT: sequence numbers and epoch-ms times) as numbers: every value here is far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as "text"))) as typeof pg.types.getTypeParser,
};

/**
 * PostgreSQL behind the store's SqlDatabase interface, with node-postgres
 * (`pg`): a pool for statements and transactions, and one more connection
 * that LISTENs for change notifications and reconnects by itself. `?`
 * placeholders become `$1..$n`.
 */
export function openPostgres(options: PostgresOptions): SqlDatabase {
  const schema = options.schema ?? "";
  if (schema && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error("schema must be a lower-case SQL identifier");
  const connection = {
    connectionString: options.url,
    types,
    statement_timeout: options.queryTimeoutMs,
    connectionTimeoutMillis: options.queryTimeoutMs,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  };
  const pool = new pg.Pool({ ...connection, max: options.poolSize, idleTimeoutMillis: 30_000 });
  // A pooled connection that breaks while idle (the server restarted) is dropped by the pool; the error must not reach the process.
  pool.on("error", (err) => options.logger.warn("a pooled PostgreSQL connection failed", { error: err.name, detail: err.message }));
  const channel = schema ? `authz_changes_${schema}` : "authz_changes";

  const onPool = executor((text, values) => pool.query(text, values));
  const listeners = new Set<() => void>();
  let listener: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  /** The LISTEN connection: opened on the first subscriber, re-opened after a failure (the feed's poll covers the gap). */
  function listen(): void {
    if (closed || listener || listeners.size === 0) return;
    const client = new pg.Client(connection);
    listener = client;
    const reconnect = (err?: Error) => {
      if (listener !== client) return;
      listener = undefined;
      client.removeAllListeners("notification");
      void client.end().catch(() => {});
      if (err) options.logger.warn("PostgreSQL change notifications lost; reconnecting", { error: err.name, detail: err.message });
      if (!closed) retry = setTimeout(listen, 1_000).unref();
    };
    client.on("error", reconnect);
    client.on("end", () => reconnect());
    client.on("notification", () => {
      for (const l of listeners) l();
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${channel}`))
      .then(() => {
        // Whatever happened while not listening: let the feed catch up.
        for (const l of listeners) l();
      })
      .catch(reconnect);
  }

  return {
    dialect: "postgres",
    ...onPool,
    async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
      const client = await guard(() => pool.connect());
      let broken = false;
      // A checked-out connection that breaks between statements (the server
      // restarted) emits `error` on the client, not the pool: without a
      // listener that is an uncaught exception. The statement in flight fails
      // on its own; the connection is dropped on release.
      const onError = (err: Error) => {
        broken = true;
        options.logger.warn("a PostgreSQL connection in a transaction failed", { error: err.name, detail: err.message });
      };
      client.on("error", onError);
      try {
        await guard(() => client.query("BEGIN"));
        const tx = executor((text, values) => client.query(text, values));
        const result = await fn({
          ...tx,
          lock: async (key) => void (await tx.get("SELECT pg_advisory_xact_lock(?)", [key])),
          notifyChanges: async () => void (await tx.get(`SELECT pg_notify('${channel}', '')`)),
          exec: async (script) => void (await guard(() => client.query(script))),
        });
        await guard(() => client.query("COMMIT"));
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => (broken = true));
        throw err;
      } finally {
        client.off("error", onError);
        client.release(broken);
      }
    },
    onChangesNotified(l) {
      listeners.add(l);
      listen();
      return () => listeners.delete(l);
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      const l = listener;
      listener = undefined;
      await Promise.all([pool.end(), l?.end().catch(() => {})]);
    },
  };
}

type Query = (text: string, values: unknown[]) => Promise<pg.QueryResult>;

function executor(query: Query): SqlExecutor {
  const run = (sql: string, params: readonly unknown[] = []) => guard(() => query(numbered(sql), [...params]));
  return {
    all: async <R>(sql: string, params?: readonly unknown[]) => (await run(sql, params)).rows as R[],
    get: async <R>(sql: string, params?: readonly unknown[]) => (await run(sql, params)).rows[0] as R | undefined,
    run: async (sql: string, params?: readonly unknown[]) => ({ changes: (await run(sql, params)).rowCount ?? 0 }),
  };
}

const numberedCache = new Map<string, string>();
/** `?` -> `$1`, `$2`... (no statement here has a `?` inside a literal). */
function numbered(sql: string): string {
  let out = numberedCache.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    numberedCache.set(sql, out);
  }
  return out;
}

/**
 * Driver errors to the store's two kinds: 23505 (unique_violation) is
 * UniqueViolation; connection failures, timeouts, the server shutting down or
 * out of resources are Unavailable. Other SQL errors are bugs and pass through.
 */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const code = String((err as { code?: unknown }).code ?? "");
    if (code === "23505") throw new UniqueViolation(String((err as { constraint?: unknown }).constraint ?? "unknown"), err);
    if (isFault(code, err)) throw new Unavailable("the store", err);
    throw err;
  }
}

/** SQLSTATE classes 08 (connection), 53 (resources), 57 (operator intervention, e.g. admin shutdown, query canceled by timeout), 58 (system); node socket errors; pg's own timeouts. */
function isFault(code: string, err: unknown): boolean {
  if (/^(08|53|57|58)/.test(code) || code === "40001" || code === "40P01") return true;
  if (/^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NOTFOUND|AI_AGAIN)$/.test(code)) return true;
  const message = (err as Error)?.message ?? "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Cannot use a pool after calling end/i.test(message);
}
