// Flood RSS (security hardening): the server's resident set before and after
// `plan.flood.requests` rejected token requests with distinct, large
// client_ids (HTTP: 60 KiB ids in a form body; gRPC: 1 MB ids in
// IssueTokenRequest; the server may refuse them outright, which is fine).
// Nothing is forced in the server (no GC hook): after the last response the
// harness waits until it is idle (1 s) and reads VmRSS of its pid again.
// A fresh server, warmed with valid traffic first, so its baseline is steady.
import { startAuthz } from "../lib/authz.js";
import { createFixture } from "../lib/fixtures.js";
import { LOAD_CORE, log, plan } from "../lib/plan.js";
import { jsonResult, rssBytes, sleep, spawnNode } from "../lib/procs.js";
import { record, type FloodPhase } from "../lib/results.js";
import { grpcRun, httpRun, PATHS } from "./core.js";

const MiB = 1024 * 1024;
export const FLOOD_IDLE_MS = 1000;

export async function floodScenario(): Promise<void> {
  const authz = await startAuthz();
  try {
    const f = (await createFixture(authz, 10, () => "ES256")).byAlg.ES256;
    // Warm-up: valid issuance over both transports, then idle.
    await httpRun(authz, f.httpIssue, 4)();
    await grpcRun(authz, PATHS.issue, f.grpcIssue, 4)();
    await sleep(FLOOD_IDLE_MS);
    const phases: Array<{ transport: "http" | "grpc"; target: string; idBytes: number; concurrency: number }> = [
      { transport: "http", target: authz.httpBase, idBytes: plan.flood.httpIdBytes, concurrency: 8 },
      { transport: "grpc", target: authz.grpcTarget, idBytes: plan.flood.grpcIdBytes, concurrency: 4 },
    ];
    for (const p of phases) {
      const before = rssBytes(authz.pid);
      const out = await jsonResult<{ sent: number; statuses: Record<string, number>; seconds: number }>(
        spawnNode([new URL("../procs/flood.ts", import.meta.url).pathname, JSON.stringify({ mode: p.transport, target: p.target, count: plan.flood.requests, idBytes: p.idBytes, concurrency: p.concurrency, maxMs: 300_000 })], { core: LOAD_CORE }),
      );
      await sleep(FLOOD_IDLE_MS);
      const after = rssBytes(authz.pid);
      const phase: FloodPhase = { transport: p.transport, requests: out.sent, idBytes: p.idBytes, statuses: out.statuses, seconds: out.seconds, rssBeforeMiB: before / MiB, rssAfterMiB: after / MiB, growthMiB: (after - before) / MiB };
      record.flood.push(phase);
      log(`flood ${p.transport}: ${out.sent} x ${p.idBytes}-byte ids in ${out.seconds.toFixed(1)} s (${Object.entries(out.statuses).map(([k, v]) => `${k} x${v}`).join(", ")}); RSS ${phase.rssBeforeMiB.toFixed(1)} -> ${phase.rssAfterMiB.toFixed(1)} MiB (${phase.growthMiB >= 0 ? "+" : ""}${phase.growthMiB.toFixed(1)})`);
    }
    const accepted = record.flood.reduce((n, p) => n + (p.statuses["200"] ?? 0) + (p.statuses.OK ?? 0), 0);
    if (accepted > 0) record.notes.push(`flood: ${accepted} of the flood requests were accepted (expected none)`);
  } finally {
    await authz.stop();
  }
}
