// A PostgreSQL for the --database-url scenarios: AUTHZ_BENCH_DATABASE_URL when
// set (loopback only), else a throwaway cluster in the scratch directory
// (initdb + postgres on 127.0.0.1, pinned to the server core; run as the
// `postgres` user when the harness runs as root). Each server gets its own
// fresh database.
import { spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { binDir } from "../../test/helpers/postgres.js";
import { scratch, SERVER_CORE } from "./plan.js";
import { freePort, spawnCmd, stopProcess, waitForLine } from "./procs.js";

export interface Postgres {
  /** A new empty database's URL. */
  newDatabase(): Promise<string>;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<Postgres> {
  const given = process.env.AUTHZ_BENCH_DATABASE_URL;
  if (given) {
    const host = new URL(given).hostname;
    if (host !== "127.0.0.1" && host !== "localhost") throw new Error("AUTHZ_BENCH_DATABASE_URL must point at 127.0.0.1");
    return { newDatabase: () => createDatabase(given), stop: async () => {} };
  }
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? uidOf("postgres") : undefined;
  if (asRoot && !user) throw new Error("running as root and no postgres user for a throwaway cluster (set AUTHZ_BENCH_DATABASE_URL)");
  const dir = mkdtempSync(join(scratch, "pg-"));
  if (user) {
    chmodSync(scratch, 0o755);
    chmodSync(dir, 0o700);
    chownSync(dir, user.uid, user.gid);
  }
  const bin = binDir();
  const as = (cmd: string, args: string[]) => (user ? ["runuser", ["-u", "postgres", "--", join(bin, cmd), ...args]] : [join(bin, cmd), args]) as [string, string[]];
  const [initCmd, initArgs] = as("initdb", ["-D", join(dir, "data"), "-U", "bench", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const init = spawnSync(initCmd, initArgs, { encoding: "utf8", timeout: 120_000 });
  if (init.status !== 0) throw new Error(`initdb failed: ${(init.error?.message ?? init.stderr).slice(-300)}`);
  const port = await freePort();
  const [cmd, args] = as("postgres", ["-D", join(dir, "data"), "-h", "127.0.0.1", "-p", String(port), "-k", dir, "-c", "fsync=off", "-c", "max_connections=200"]);
  const proc: ChildProcess = spawnCmd(cmd, args, { core: SERVER_CORE });
  await waitForLine(proc, /ready to accept connections/, 60_000);
  const admin = `postgres://bench@127.0.0.1:${port}/postgres`;
  return { newDatabase: () => createDatabase(admin), stop: () => stopProcess(proc) };
}

let dbSeq = 0;
async function createDatabase(adminUrl: string): Promise<string> {
  const name = `authz_bench_${process.pid}_${++dbSeq}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function uidOf(name: string): { uid: number; gid: number } | undefined {
  const r = spawnSync("id", ["-u", name], { encoding: "utf8" });
  const g = spawnSync("id", ["-g", name], { encoding: "utf8" });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
}
