// The printed table, the Targets block and the JSON result file.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { EMPTY_KIND, HELLO_KIND, lGrpc } from "../scenarios/ceilings.js";
import { log, plan } from "./plan.js";
import { canPin } from "./procs.js";
import { cell, record } from "./results.js";

const fmt = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "?" : n >= 100 ? String(Math.round(n)) : n.toFixed(1));
const x2 = (n: number) => n.toFixed(2);
const verdict = (ok: boolean) => (ok ? "MET" : "NOT MET");

function ratioFor(kind: string, c: number, rps: number): string {
  const alg = /\.(ES256|RS256)$/.exec(kind)?.[1] ?? "ES256";
  const parts: string[] = [];
  const of = (label: string, base: number | undefined) => base && parts.push(`${x2(rps / base)} of ${label}`);
  const base = record.baselines[kind];
  if (base) {
    const b = cell(base, c)?.rps.median;
    if (b) parts.push(`${(rps / b).toFixed(3)} of ${base.split(".")[0]}`);
    return parts.join(", ");
  }
  if (kind === "grpc.health_check") of("empty unary", (cell(EMPTY_KIND.h2load, c) ?? cell(EMPTY_KIND.h2grpc, c))?.rps.median);
  if (kind.startsWith("grpc.issue.")) of("L_grpc", lGrpc(alg, c)?.value);
  if (kind.startsWith("http.issue.")) {
    const peer = cell(`peer.${kind}`, c);
    if (peer) parts.push(`${x2(rps / peer.rps.median)}x peer`);
    of("L_http", record.limits[`L_http ${alg} c=${c}`]);
  }
  if (kind.startsWith("peer.http.issue.")) of("L_http", record.limits[`L_http ${alg} c=${c}`]);
  if (kind === "grpc.introspect.ES256") of("L_grpc(verify)", record.limits[`L_grpc_verify ES256 c=${c}`]);
  if (kind === "http.introspect.ES256") of("http.issue", cell("http.issue.ES256", c)?.rps.median);
  if (kind === "http.jwks") of("http hello", cell(HELLO_KIND, c)?.rps.median);
  return parts.join(", ");
}

export function targets(): string[] {
  const c = plan.targetC;
  const out: string[] = [];
  const http = cell("http.issue.ES256", c);
  const peer = cell("peer.http.issue.ES256", c);
  const lHttp = record.limits[`L_http ES256 c=${c}`];
  if (http && peer) out.push(`HTTP issuance ES256 c=${c} >= 1.5x peer: ${fmt(http.rps.median)} vs ${fmt(peer.rps.median)}/s = ${x2(http.rps.median / peer.rps.median)}x ${verdict(http.rps.median >= 1.5 * peer.rps.median)}`);
  if (http && lHttp) out.push(`HTTP issuance ES256 c=${c} >= 0.8 L_http: ${fmt(http.rps.median)} vs L_http ${fmt(lHttp)}/s = ${x2(http.rps.median / lHttp)} ${verdict(http.rps.median >= 0.8 * lHttp)}`);
  if (http) out.push(`HTTP issuance ES256 c=${c} p99 < 10 ms: ${x2(http.p99)} ms ${verdict(http.p99 < 10)}`);
  const grpcIssue = cell("grpc.issue.ES256", c);
  const lg = lGrpc("ES256", c);
  if (grpcIssue && lg) out.push(`gRPC issuance ES256 c=${c} >= 0.8 L_grpc: ${fmt(grpcIssue.rps.median)} vs L_grpc ${fmt(lg.value)}/s (empty call by ${lg.from}) = ${x2(grpcIssue.rps.median / lg.value)} ${verdict(grpcIssue.rps.median >= 0.8 * lg.value)}`);
  const intro = cell("http.introspect.ES256", c);
  if (intro && http) out.push(`HTTP introspection ES256 c=${c} >= 0.8 HTTP issuance: ${fmt(intro.rps.median)} vs ${fmt(http.rps.median)}/s = ${x2(intro.rps.median / http.rps.median)} ${verdict(intro.rps.median >= 0.8 * http.rps.median)}`);
  if (!http || !peer) out.push(`HTTP issuance ES256 c=${c}: NOT MEASURED`);
  if (!grpcIssue || !lg) out.push(`gRPC issuance ES256 c=${c} vs L_grpc: NOT MEASURED`);
  const [small, big] = plan.storeSizes;
  if (!record.storeSize.length) out.push(`store size ${big} vs ${small}: NOT MEASURED (see notes)`);
  if (!record.flood.length) out.push("flood RSS growth: NOT MEASURED (see notes)");
  for (const r of record.storeSize) {
    out.push(`${r.scenario} c=${r.c}, ${big} vs ${small} stored, within 5% (>= 0.95): ${fmt(r.big.rps.median)} vs ${fmt(r.small.rps.median)}/s = ${r.ratio.toFixed(3)} ${verdict(r.ratio >= 0.95)}`);
  }
  if (record.flood.length) {
    const total = record.flood[record.flood.length - 1]!.rssAfterMiB - record.flood[0]!.rssBeforeMiB;
    const detail = record.flood.map((p) => `${p.transport} ${p.requests} x ${p.idBytes >= 1e6 ? `${p.idBytes / 1e6} MB` : `${p.idBytes / 1024} KiB`} ${p.growthMiB >= 0 ? "+" : ""}${p.growthMiB.toFixed(1)} MiB`).join(", ");
    out.push(`flood RSS growth < 50 MiB: ${total >= 0 ? "+" : ""}${total.toFixed(1)} MiB (${detail}) ${verdict(total < 50 && record.flood.every((p) => p.growthMiB < 50))}`);
  }
  return out;
}

export function report(meta: { serveFlags: string[]; started: Date }): string {
  const rows = Object.entries(record.cells).map(([name, cl]) => {
    const [kind, c] = name.split(" c=") as [string, string];
    return [kind, c, `${fmt(cl.rps.median)} (${fmt(cl.rps.min)}–${fmt(cl.rps.max)})`, x2(cl.p50), x2(cl.p99), ratioFor(kind, Number(c), cl.rps.median), cl.errors ? String(cl.errors) : ""];
  });
  const header = ["scenario", "c", "req/s median (min–max)", "p50 ms", "p99 ms", "ratio", "errors"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => "| " + r.map((v, i) => v.padEnd(widths[i]!)).join(" | ") + " |";
  const t = targets();
  const ceilings = Object.entries(record.ceilings).map(([k, v]) => `${k} ${fmt(v)}/s`);
  const limits = Object.entries(record.limits).map(([k, v]) => `${k} ${fmt(v)}/s`);
  const later = Object.entries(record.later).map(([k, v]) => `- ${k}: ${v.status}${v.data && typeof v.data === "object" && "summary" in v.data ? ` — ${(v.data as { summary: string }).summary}` : ""}`);
  const out = [
    `authz benchmark (${plan.smoke ? "smoke: figures only show the harness works" : "full"}), ${meta.started.toISOString()}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), pinned: ${canPin}, node ${process.version}`,
    `N = ${plan.n} API servers/clients/grants (half ES256, half RS256); ${plan.runs} run(s) per cell of ${plan.grpcSeconds} s (gRPC, after ${plan.grpcWarmup} s warm-up) or ${plan.seconds} s (HTTP, after a ${plan.warmup} s warm-up run); gRPC load: ${record.loadGenerators.grpc}; HTTP load: ${record.loadGenerators.http}`,
    "",
    "Ceilings (one core): " + ceilings.join(", "),
    "",
    "Combined limits (node:crypto sign or verify + transport at the same c): " + limits.join(", "),
    "",
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    "",
    ...(record.notes.length ? ["Notes:", ...record.notes.map((n) => `- ${n}`), ""] : []),
    ...(later.length ? ["Later scenarios:", ...later, ""] : []),
    `Targets (c=${plan.targetC}${plan.smoke ? `, store ${plan.storeSizes[1]} vs ${plan.storeSizes[0]}, ${plan.flood.requests} flood requests per transport` : ""}):`,
    ...t.map((s) => `- ${s}`),
  ].join("\n");
  process.stdout.write(out + "\n");
  const dir = new URL("../results/", import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${plan.smoke ? "smoke" : "bench"}-${meta.started.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        smoke: plan.smoke,
        plan,
        pinned: canPin,
        loadGenerators: record.loadGenerators,
        node: process.version,
        cpu: cpus()[0]?.model,
        serveFlags: meta.serveFlags,
        ceilings: record.ceilings,
        limits: record.limits,
        results: record.cells,
        storeSize: record.storeSize.map((r) => ({ scenario: r.scenario, c: r.c, small: r.small.rps.median, big: r.big.rps.median, ratio: r.ratio })),
        flood: record.flood,
        later: record.later,
        notes: record.notes,
        targets: t,
      },
      null,
      2,
    ),
  );
  log(`wrote ${file}`);
  return file;
}
