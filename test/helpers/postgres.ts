// A private, throwaway PostgreSQL cluster for suites that must own the server
// (the replica suite restarts it under load): initdb in a temporary directory,
// listening on 127.0.0.1 only, on a free port; run as the `postgres` user when
// the tests run as root (initdb refuses root). `.ci/run` installs PostgreSQL
// where it is missing; here a missing binary is a clear error.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./ports.js";

export interface PrivatePostgres {
  /** postgres://authz@127.0.0.1:<port>/<db> of a new, empty database. */
  newDatabase(): Promise<string>;
  /** Stops the server (fast shutdown: every connection is cut); `up` starts it again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

const USER = "authz";

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const [uid, gid] = [id("-u"), id("-g")];
  if (uid.status !== 0 || gid.status !== 0) throw new Error("running as root and there is no `postgres` user to run a throwaway cluster as (apt-get install -y postgresql creates it)");
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The newest installed PostgreSQL's bin directory (Debian keeps it off PATH). */
export function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql");
  return join(root, newest, "bin");
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), "authz-pg-"));
  // As root, the server processes run as `postgres` (set by spawn itself, so signals reach postgres, not a wrapper).
  const user: { uid?: number; gid?: number } = process.getuid?.() === 0 ? postgresUser() : {};
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = join(dir, "data");
  const init = spawnSync(join(bin, "initdb"), ["-D", data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"], { encoding: "utf8", timeout: 120_000, cwd: dir, ...user });
  if (init.status !== 0) throw new Error(`initdb failed: ${(init.error?.message ?? init.stderr).slice(-500)}`);
  const port = await freePort();
  let proc: ChildProcess | undefined;

  const start = async () => {
    const args = ["-D", data, "-h", "127.0.0.1", "-p", String(port), "-k", dir, "-c", "fsync=off", "-c", "max_connections=300"];
    const child = spawn(join(bin, "postgres"), args, { stdio: ["ignore", "ignore", "pipe"], cwd: dir, ...user });
    proc = child;
    await new Promise<void>((resolve, reject) => {
      let log = "";
      const timer = setTimeout(() => reject(new Error(`postgres did not start within 60 s: ${log.slice(-500)}`)), 60_000);
      child.stderr!.on("data", (chunk: Buffer) => {
        log += chunk;
        if (log.includes("ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited with ${code}: ${log.slice(-500)}`));
      });
    });
    child.stderr!.resume();
  };
  const halt = async () => {
    const child = proc;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT"); // fast shutdown: active connections are terminated
    await exited;
  };
  await start();

  let seq = 0;
  return {
    async newDatabase() {
      const name = `authz_${process.pid}_${++seq}`;
      const admin = new pg.Client({ connectionString: `postgres://${USER}@127.0.0.1:${port}/postgres` });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return `postgres://${USER}@127.0.0.1:${port}/${name}`;
    },
    down: halt,
    up: start,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
