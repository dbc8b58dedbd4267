// The store contract suite runs every test against both engines in one run:
// SQLite always (a real temp file), PostgreSQL when AUTHZ_TEST_DATABASE_URL
// is set (a real server; each database is a schema of its own, dropped
// afterwards). Without the URL the PostgreSQL half is reported as skipped, or
// fails when AUTHZ_REQUIRE_POSTGRES=1 (CI must not pass by skipping it).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, test } from "vitest";
import { silentLogger } from "../../src/log.js";
import { openStore, type Store } from "../../src/store/index.js";
import type { PeerLocation, PeerOps } from "./peer.js";

export type EngineName = "sqlite" | "postgres";

interface EngineRow {
  name: EngineName;
  /** Set when the engine cannot run here: the PostgreSQL half without a server. */
  missing?: string;
}

const POSTGRES_URL = process.env.AUTHZ_TEST_DATABASE_URL ?? "";
const ENGINES: EngineRow[] = [
  { name: "sqlite" },
  POSTGRES_URL ? { name: "postgres" } : { name: "postgres", missing: "AUTHZ_TEST_DATABASE_URL is not set (`source .ci/postgres.sh && pg_start` sets it)" },
];

/** One database of the engine under test, with the store instances and peers opened on it. */
export interface TestDatabase {
  engine: EngineName;
  /** The first store instance. */
  store: Store;
  /** Another store instance over the same database: own connections (PostgreSQL: own pool and LISTEN connection). */
  open(): Promise<Store>;
  /** Another replica in its own process over the same database, started on first use (SQLite in one process cannot hold two writers at once). */
  peer(): Promise<Peer>;
  /**
   * Resolves once a statement on `table` is waiting for a row another
   * transaction holds (PostgreSQL, seen in pg_locks). SQLite: at once, since
   * writers are serialised whole and no statement ever waits for a row.
   */
  rowLockWait(table: string): Promise<void>;
}

export interface EngineContext {
  name: EngineName;
  /** A fresh, migrated database; closed and removed after the describe block. */
  database(): Promise<TestDatabase>;
}

/**
 * `describe.each` over the engines. `body` declares the tests of one engine;
 * for a missing engine it is replaced by one skipped test naming the reason,
 * or by one failing test when AUTHZ_REQUIRE_POSTGRES=1.
 */
export function describeEngines(title: string, body: (engine: EngineContext) => void): void {
  describe.each(ENGINES.map((row) => [row.name, row] as const))(`${title} [%s]`, (_name, row) => {
    if (row.missing) {
      if (process.env.AUTHZ_REQUIRE_POSTGRES === "1") {
        test(`${row.name} is required (AUTHZ_REQUIRE_POSTGRES=1)`, () => {
          throw new Error(`AUTHZ_REQUIRE_POSTGRES=1 but ${row.missing}: the ${row.name} half of the store contract cannot run`);
        });
      } else {
        test.skip(`${row.name} skipped: ${row.missing}`, () => {});
      }
      return;
    }
    const cleanups: Array<() => Promise<void>> = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });
    body({ name: row.name, database: () => createDatabase(row.name, cleanups) });
  });
}

async function createDatabase(engine: EngineName, cleanups: Array<() => Promise<void>>): Promise<TestDatabase> {
  const location: PeerLocation =
    engine === "sqlite"
      ? { databaseUrl: "", dataFile: join(mkdtempSync(join(tmpdir(), "authz-store-")), "authz.db"), schema: "" }
      : { databaseUrl: POSTGRES_URL, dataFile: "", schema: `contract_${randomBytes(8).toString("hex")}` };
  const stores: Store[] = [];
  let peer: Promise<Peer> | undefined;
  cleanups.push(async () => {
    if (peer) await (await peer).close();
    // A test may have closed a store on purpose (faults); closing again must not hide the cleanup.
    await Promise.allSettled(stores.map((s) => s.close()));
    if (engine === "sqlite") rmSync(dirname(location.dataFile), { recursive: true, force: true });
    else await dropSchema(location.schema);
  });
  const open = async () => {
    const store = await openStore({
      databaseUrl: location.databaseUrl,
      dataFile: location.dataFile,
      postgresSchema: location.schema || undefined,
      storeTimeoutMs: 10_000,
      postgresPoolSize: 4,
      logger: silentLogger,
    });
    stores.push(store);
    return store;
  };
  const store = await open();
  return {
    engine,
    store,
    open,
    peer: () => (peer ??= startPeer(location)),
    rowLockWait: (table) => (engine === "sqlite" ? Promise.resolve() : rowLockWait(location.schema, table, 10_000)),
  };
}

/** Asks pg_locks (one query after another, no sleeps) until a backend holding a lock on schema.table waits for a lock, or `ms` pass. */
async function rowLockWait(schema: string, table: string, ms: number): Promise<void> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    const sql = `SELECT count(*)::int AS n FROM pg_stat_activity a
      WHERE a.wait_event_type = 'Lock' AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.relation = $1::regclass)`;
    const until = Date.now() + ms;
    while ((await admin.query<{ n: number }>(sql, [`${schema}.${table}`])).rows[0]!.n === 0) {
      if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for a statement to wait for a row of ${table}`);
    }
  } finally {
    await admin.end();
  }
}

async function dropSchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}

/** The store operations a peer replica runs on request, plus stopping it. */
export type Peer = PeerOps & { close(): Promise<void> };

const PEER_SCRIPT = fileURLToPath(new URL("./peer.ts", import.meta.url));
const PEER_START_MS = 20_000;

async function startPeer(location: PeerLocation): Promise<Peer> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ["--import", "tsx", PEER_SCRIPT], {
    env: { ...process.env, AUTHZ_STORE_PEER: JSON.stringify(location) },
    stdio: "pipe",
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const msg = JSON.parse(line) as { ready?: true; id: number; value?: unknown; error?: { name: string; kind?: string; message: string } };
    if (msg.ready) return ready();
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error) w?.reject(Object.assign(new Error(`peer: ${msg.error.name}: ${msg.error.message}`), { kind: msg.error.kind }));
    else w?.resolve(msg.value);
  });
  void exited.then((code) => {
    for (const w of waiting.values()) w.reject(new Error(`the peer exited (${code}): ${stderr}`));
  });
  await deadline(Promise.race([started, exited.then((code) => Promise.reject(new Error(`the peer exited (${code}) before it was ready: ${stderr}`)))]), PEER_START_MS, "the peer to start");

  let next = 0;
  const call =
    <K extends keyof PeerOps>(op: K) =>
    (...args: Parameters<PeerOps[K]>) =>
      new Promise<unknown>((resolve, reject) => {
        const id = ++next;
        waiting.set(id, { resolve, reject });
        child.stdin.write(`${JSON.stringify({ id, op, args })}\n`);
      }) as ReturnType<PeerOps[K]>;
  return {
    rotate: call("rotate"),
    revokeFamily: call("revokeFamily"),
    consume: call("consume"),
    recordIssuance: call("recordIssuance"),
    lockedIncrement: call("lockedIncrement"),
    appendChange: call("appendChange"),
    async close() {
      child.stdin.end();
      await deadline(exited, 10_000, "the peer to exit").catch((err: unknown) => {
        child.kill();
        throw err;
      });
    },
  };
}

/** `promise`, or a rejection naming what did not happen within `ms`. */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Runs `fn` expecting a rejection and returns the error (for assertions on its class and message). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}
