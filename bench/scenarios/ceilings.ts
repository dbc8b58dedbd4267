// Ceilings measured in the same run, each in its own process on the server
// core (load on the load core):
// - JWS sign/verify per algorithm, node:crypto (as the server signs) and jose;
// - an empty gRPC unary call (minimal grpc-js server), driven by h2load and by
//   h2grpc (the generator of the gRPC issuance cells);
// - a minimal node:http token endpoint (~600-byte JSON to a form POST), by wrk;
// and the combined limits L = 1/(1/sign + 1/transport) per concurrency.
import { grpcLoad, h2grpcAvailable, h2loadAvailable, rotatingTool } from "../lib/grpc_load.js";
import { httpLoad, httpTool, type HttpRequestSpec } from "../lib/http_load.js";
import { LOAD_CORE, log, plan, SERVER_CORE } from "../lib/plan.js";
import { jsonResult, spawnNode, stopProcess, waitForLine } from "../lib/procs.js";
import { cell, record } from "../lib/results.js";
import type { CellSpec } from "./matrix.js";
import { ALGS } from "../lib/fixtures.js";

export const proc = (name: string) => new URL(`../procs/${name}`, import.meta.url).pathname;

const EMPTY_PATH = "/bench.v1.Empty/Call";

export const EMPTY_KIND = { h2load: "ceiling.grpc_empty_unary[h2load]", h2grpc: "ceiling.grpc_empty_unary[h2grpc]" } as const;
export const HELLO_KIND = "ceiling.http_hello";

export async function cryptoCeilings(extra: { jwksFile?: string; tokensFile?: string; issuer?: string } = {}): Promise<Record<string, number>> {
  const r = await jsonResult<Record<string, number>>(spawnNode([proc("crypto_ceilings.ts"), JSON.stringify({ durationMs: plan.ceilingMs, ...extra })], { core: SERVER_CORE }));
  log(`crypto (1 core): ${Object.entries(r).map(([k, v]) => `${k} ${Math.round(v)}/s`).join(", ")}`);
  return r;
}

export interface Running {
  specs: CellSpec[];
  stop(): Promise<void>;
}

/** The empty-unary gRPC server, and its cells (h2load and h2grpc). */
export async function startEmptyUnary(): Promise<Running> {
  const server = spawnNode([proc("empty_grpc_server.ts"), EMPTY_PATH], { core: SERVER_CORE });
  try {
    const [, target] = await waitForLine(server, /listening (\S+)/);
    const job = (c: number) => ({ target: target!, path: EMPTY_PATH, requests: [Buffer.alloc(0)], concurrency: c, warmupMs: plan.grpcWarmup * 1000, durationMs: plan.grpcSeconds * 1000, minMessageBytes: 0 });
    const specs: CellSpec[] = [];
    if (h2loadAvailable) specs.push({ kind: EMPTY_KIND.h2load, run: (c) => grpcLoad(job(c), LOAD_CORE, "h2load") });
    if (h2grpcAvailable) specs.push({ kind: EMPTY_KIND.h2grpc, run: (c) => grpcLoad(job(c), LOAD_CORE, "h2grpc") });
    if (!h2loadAvailable && !h2grpcAvailable) specs.push({ kind: `ceiling.grpc_empty_unary[${rotatingTool}]`, run: (c) => grpcLoad(job(c), LOAD_CORE) });
    return { specs, stop: () => stopProcess(server) };
  } catch (err) {
    await stopProcess(server);
    throw err;
  }
}

/** Client credentials requests of the shape authz gets (Basic, audience, scope), for the servers that stand in for it. */
export function tokenRequests(): HttpRequestSpec[] {
  return Array.from({ length: 16 }, (_, i) => ({
    method: "POST" as const,
    path: "/oauth/token",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`cl_client${i}:secret${i}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "client_credentials", audience: `https://api-${i}.bench.example.com`, scope: "orders:read" }).toString(),
  }));
}

/** The minimal node:http token endpoint, and its cell (wrk). */
export async function startHttpHello(): Promise<Running> {
  const server = spawnNode([proc("http_hello_server.ts")], { core: SERVER_CORE });
  try {
    const [, target] = await waitForLine(server, /listening (\S+)/);
    const base = `http://${target}`;
    const requests = tokenRequests();
    const probe = await fetch(`${base}/oauth/token`, { method: "POST", headers: requests[0]!.headers, body: requests[0]!.body });
    const size = (await probe.arrayBuffer()).byteLength;
    if (probe.status !== 200 || probe.headers.get("content-type") !== "application/json") throw new Error(`http hello probe: ${probe.status}`);
    record.notes.push(`${HELLO_KIND}: node:http, ${size}-byte application/json body to a form POST, keep-alive; load: ${httpTool}`);
    const run = (c: number) => httpLoad({ base, requests, connections: c, warmupSeconds: plan.warmup, durationSeconds: plan.seconds }, LOAD_CORE);
    return { specs: [{ kind: HELLO_KIND, run }], stop: () => stopProcess(server) };
  } catch (err) {
    await stopProcess(server);
    throw err;
  }
}

const combine = (a: number, b: number) => 1 / (1 / a + 1 / b);

/** L_grpc and L_http per algorithm and concurrency (node:crypto sign) from the cells above. */
export function combinedLimits(): void {
  for (const alg of ALGS) {
    const sign = record.ceilings[`node_sign_${alg}`];
    if (!sign) continue;
    for (const c of plan.concurrency) {
      for (const [tool, kind] of Object.entries(EMPTY_KIND)) {
        const empty = cell(kind, c);
        if (empty) record.limits[`L_grpc[${tool}] ${alg} c=${c}`] = combine(sign, empty.rps.median);
      }
      const hello = cell(HELLO_KIND, c);
      if (hello) record.limits[`L_http ${alg} c=${c}`] = combine(sign, hello.rps.median);
    }
  }
  const verify = record.ceilings.node_verify_ES256;
  if (verify) {
    for (const c of plan.concurrency) {
      const empty = cell(EMPTY_KIND.h2grpc, c) ?? cell(EMPTY_KIND.h2load, c);
      if (empty) record.limits[`L_grpc_verify ES256 c=${c}`] = combine(verify, empty.rps.median);
      const hello = cell(HELLO_KIND, c);
      if (hello) record.limits[`L_http_verify ES256 c=${c}`] = combine(verify, hello.rps.median);
    }
  }
}

/** The stricter (higher) of the two gRPC limits: the target must hold against the best empty-call figure either generator saw. */
export function lGrpc(alg: string, c: number): { value: number; from: string } | undefined {
  const options = Object.keys(EMPTY_KIND)
    .map((tool) => ({ value: record.limits[`L_grpc[${tool}] ${alg} c=${c}`], from: tool }))
    .filter((o): o is { value: number; from: string } => o.value !== undefined);
  return options.sort((a, b) => b.value - a.value)[0];
}
