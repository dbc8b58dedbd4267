// The authz server as the benchmark runs it: `src/main.ts serve` in its own
// process (pinned to the server core), on loopback ports, a fresh data file,
// admin credentials from the environment. Extra `serve` flags are passed per
// scenario; `serveFlags()` reads which flags this build has from `--help`, so
// scenarios for flags still to come are skipped until the flag exists.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { IssueTokenRequest, TokenServiceService } from "../../gen/authz/v1/token.js";
import { scratch, SERVER_CORE } from "./plan.js";
import { freePort, spawnNode, stopProcess, waitForLine } from "./procs.js";
import { bearer, channel, unary } from "./rpc.js";
import type * as grpc from "@grpc/grpc-js";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

let flagsCache: Set<string> | undefined;
/** The `--flags` the server's help text mentions (the CLI is the only interface the bench relies on). */
export function serveFlags(): Set<string> {
  if (!flagsCache) {
    const r = spawnSync(process.execPath, ["--import", "tsx", MAIN, "--help"], { encoding: "utf8", timeout: 60_000 });
    flagsCache = new Set((`${r.stdout}\n${r.stderr}`.match(/--[a-z][a-z0-9-]*/g) ?? []).map((f) => f));
  }
  return flagsCache;
}
export const hasFlag = (flag: string) => serveFlags().has(flag);

export interface AuthzOptions {
  /** Extra `serve` flags, e.g. ["--workers", "2"]. */
  flags?: string[];
  /** undefined: unpinned. Default: the server core. */
  core?: number | null;
  env?: NodeJS.ProcessEnv;
  /** Without a --database-url flag: a fresh SQLite file in the scratch directory. */
  dataFile?: string;
  /** Admin credentials (replicas of one database share them); fresh ones by default. */
  admin?: { id: string; secret: string };
}

export interface Authz {
  proc: ChildProcess;
  pid: number;
  grpcTarget: string;
  httpBase: string;
  admin: { id: string; secret: string };
  channel: grpc.Client;
  /** A management token of the admin client (all permissions). */
  adminMetadata: grpc.Metadata;
  stop(): Promise<void>;
}

export async function startAuthz(options: AuthzOptions = {}): Promise<Authz> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const admin = options.admin ?? { id: `bench-admin-${randomBytes(4).toString("hex")}`, secret: randomBytes(32).toString("base64url") };
  // Each server's operations listener on a port of its own (several servers run at once).
  const flags = [...(hasFlag("--ops-address") ? ["--ops-address", "127.0.0.1:0"] : []), ...(options.flags ?? [])];
  const data = flags.includes("--database-url") ? [] : ["--data-file", options.dataFile ?? join(mkdtempSync(join(scratch, "authz-")), "authz.db")];
  const proc = spawnNode([MAIN, "serve", ...data, "--grpc-address", `127.0.0.1:${grpcPort}`, "--http-address", `127.0.0.1:${httpPort}`, ...flags], {
    core: options.core === null ? undefined : (options.core ?? SERVER_CORE),
    env: {
      AUTHZ_ADMIN_CLIENT_ID: admin.id,
      AUTHZ_ADMIN_CLIENT_SECRET: admin.secret,
      // The per-client token bucket still runs (its cost is measured) but no
      // fixture client reaches it: a smoke fixture's 10 clients at a few
      // thousand requests a second would be over the default 100/s.
      AUTHZ_TOKEN_RATE_PER_SECOND: "1000000",
      AUTHZ_TOKEN_RATE_BURST: "1000000",
      // Without a data file the default KEK file would land in the working directory: pass one.
      ...(data.length ? {} : { AUTHZ_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64url") }),
      ...options.env,
    },
  });
  const grpcTarget = `127.0.0.1:${grpcPort}`;
  const ch = channel(grpcTarget);
  let accessToken: string;
  try {
    await waitForLine(proc, /"msg":"http listening"/, 120_000);
    ({ accessToken } = await unary(ch, TokenServiceService.issueToken, IssueTokenRequest.fromPartial({ client: { clientId: admin.id, clientSecret: admin.secret }, audience: "urn:authz:management" })));
  } catch (err) {
    ch.close();
    await stopProcess(proc);
    throw err;
  }
  return {
    proc,
    pid: proc.pid!,
    grpcTarget,
    httpBase: `http://127.0.0.1:${httpPort}`,
    admin,
    channel: ch,
    adminMetadata: bearer(accessToken),
    async stop() {
      ch.close();
      await stopProcess(proc);
    },
  };
}
