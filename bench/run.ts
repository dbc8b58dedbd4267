// npm run bench [-- --smoke]
// Measures authz in one run on this machine, against ceilings and a peer
// measured in the same run. Every server-side process (authz, the peer, each
// ceiling) runs alone on core 0; every load generator runs on core 1
// (taskset). Loopback only; every load loop is bounded in count and time.
//   1. the matrix, round-robin over every cell with all its servers up (see
//      scenarios/matrix.ts): ceilings (JWS sign/verify with node:crypto and
//      jose, empty gRPC unary call, minimal node:http token endpoint), authz
//      (health check, issuance, introspection over gRPC and HTTP, JWKS), the
//      peer (node-oidc-provider); then combined limits L_grpc, L_http
//   2. store size: small vs big stored clients/grants/API servers
//   3. flood RSS: rejected requests with huge distinct client_ids
//   4. later scenarios, each gated on the server flag it needs
// Layout: lib/ (processes, load generators, fixtures, report), scenarios/,
// procs/ (child process entry points), tools/h2grpc.c, peer/.
import { cpus } from "node:os";
import { rmSync } from "node:fs";
import { serveFlags, startAuthz, type Authz } from "./lib/authz.js";
import { h2loadAvailable, rotatingTool } from "./lib/grpc_load.js";
import { httpTool } from "./lib/http_load.js";
import { log, phaseSelected, plan, scratch } from "./lib/plan.js";
import { canPin, stopAll } from "./lib/procs.js";
import { report } from "./lib/report.js";
import { record } from "./lib/results.js";
import { combinedLimits, startEmptyUnary, startHttpHello, type Running } from "./scenarios/ceilings.js";
import { authzSpecs, localVerifyCeilings, setUpMain } from "./scenarios/core.js";
import { floodScenario } from "./scenarios/flood.js";
import { laterScenarios } from "./scenarios/later.js";
import { runMatrix } from "./scenarios/matrix.js";
import { startPeers } from "./scenarios/peer.js";
import { storeSizeScenario } from "./scenarios/store_size.js";

async function main(): Promise<void> {
  const started = new Date();
  const t0 = Date.now();
  const phase = (name: string) => log(`--- ${name} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  record.loadGenerators = {
    grpc: `${rotatingTool} (1 connection, c streams, rotating messages)${h2loadAvailable ? "; h2load for the empty call and the health check" : ""}`,
    http: httpTool === "wrk" ? "wrk -t1 (c keep-alive connections, Lua rotating requests)" : "autocannon (wrk not found)",
  };
  log(`${plan.smoke ? "smoke" : "full"} run; ${cpus().length} cores; pinned: ${canPin}; gRPC load: ${rotatingTool}; HTTP load: ${httpTool}`);
  const flags = [...serveFlags()].sort();

  if (phaseSelected("matrix")) await matrixPhase(phase);

  // A failing phase (e.g. the server failing to start mid-edit) is recorded and
  // the run goes on, so the report still shows what was measured.
  const guarded = async (name: string, run: () => Promise<void>) => {
    phase(name);
    try {
      await run();
    } catch (err) {
      const msg = `${name} failed: ${((err as Error).message ?? String(err)).split("\n")[0]!.slice(0, 300)}`;
      record.notes.push(msg);
      log(msg);
      process.exitCode = 1; // reported, and the run still fails (CI must see it)
    }
  };
  if (phaseSelected("store")) await guarded("store size", storeSizeScenario);
  if (phaseSelected("flood")) await guarded("flood RSS", floodScenario);
  if (phaseSelected("later")) await guarded("later scenarios", laterScenarios);

  phase("report");
  report({ serveFlags: flags, started });
  log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

/** The matrix: ceilings, authz and the peer, round-robin, then the combined limits. */
async function matrixPhase(phase: (name: string) => void): Promise<void> {
  phase("matrix: start servers");
  // Started together (start-up is not measured); stopped whatever happens.
  const starts = await Promise.allSettled([startEmptyUnary(), startHttpHello(), startAuthz(), startPeers()] as const);
  const running = starts.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  try {
    const failed = starts.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    const [empty, hello, authz, peers] = starts.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [Running, Running, Authz, Running];
    const fixture = await setUpMain(authz);
    phase("matrix: measure");
    await runMatrix([...empty.specs, ...hello.specs, ...authzSpecs(authz, fixture), ...peers.specs]);
    await localVerifyCeilings(authz, fixture);
  } finally {
    for (const r of running) await r.stop();
  }
  combinedLimits();
}

main()
  .catch((err: unknown) => {
    log(`failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    rmSync(scratch, { recursive: true, force: true });
  });
