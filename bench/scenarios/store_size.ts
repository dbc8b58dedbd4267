// Store size: the same issuance and introspection (ES256, gRPC and HTTP, at
// the target concurrency) against a server holding `small` vs `big` clients,
// grants and API servers (all ES256 here, so requests rotate over all of
// them). Both servers stay up on the server core and the runs alternate
// between them (small, big / big, small ...) so drift from other load on the
// machine falls on both; the ratio is big/small of the median req/s.
import { performance } from "node:perf_hooks";
import { startAuthz, type Authz, type AuthzOptions } from "../lib/authz.js";
import { createFixture, probeFixture, type AlgFixture } from "../lib/fixtures.js";
import { LOAD_CORE, log, plan } from "../lib/plan.js";
import { cpuSeconds } from "../lib/procs.js";
import { cellName, logCell, record } from "../lib/results.js";
import { median, summarize, type Cell, type RunResult } from "../lib/stats.js";
import { grpcRun, httpRun, PATHS } from "./core.js";

/** A load run; `core` is the load core (null: unpinned). */
export type Job = (authz: Authz, f: AlgFixture, c: number, core: number | null) => () => Promise<RunResult>;

export const STORE_SCENARIOS: Array<[string, Job]> = [
  ["grpc.issue.ES256", (a, f, c, core) => grpcRun(a, PATHS.issue, f.grpcIssue, c, undefined, 1, core)],
  ["http.issue.ES256", (a, f, c, core) => httpRun(a, f.httpIssue, c, core)],
  ["grpc.introspect.ES256", (a, f, c, core) => grpcRun(a, PATHS.introspect, f.grpcIntrospect, c, undefined, 1, core)],
  ["http.introspect.ES256", (a, f, c, core) => httpRun(a, f.httpIntrospect, c, core)],
];

export interface Comparison {
  scenario: string;
  a: Cell;
  b: Cell;
  /** b/a of the median req/s; run together (`together`), the median of the runs' b/a. */
  ratio: number;
  /** Run together: each run's b/a, b's CPU seconds over a's (1: the core was shared fairly), and how busy the servers kept their core (1: saturated, the ratio is theirs and not the load generators'). */
  together?: Array<{ ratio: number; cpuShare: number; coreBusy: number }>;
}

/**
 * One run of both servers at once: both pinned to the server core, both
 * load generators on the load core, started together. The kernel splits
 * the core evenly between the two, so b/a of req/s is b/a of work per
 * request, measured under the same moment's machine speed (which on these
 * machines drifts 2x within minutes and spoils ratios of runs taken one
 * after the other). Checked, not assumed: the CPU each server got, and that
 * together they kept their core busy.
 */
export async function runTogether(sa: { pid: number }, sb: { pid: number }, ra: () => Promise<RunResult>, rb: () => Promise<RunResult>) {
  const cpu0 = [cpuSeconds(sa.pid), cpuSeconds(sb.pid)];
  const t0 = performance.now();
  const [x, y] = await Promise.all([ra(), rb()]);
  const wall = (performance.now() - t0) / 1000;
  const [ua, ub] = [cpuSeconds(sa.pid) - cpu0[0]!, cpuSeconds(sb.pid) - cpu0[1]!];
  return { a: x, b: y, pair: { ratio: y.rps / x.rps, cpuShare: ub / ua, coreBusy: (ua + ub) / wall } };
}

/**
 * Two servers with the given options (e.g. extra flags) and sizes, compared
 * scenario by scenario: runs alternate between them, or (`together`) run
 * both at once on the one server core (see runTogether; `discardFirst`: a
 * warm-up run of both first, not recorded).
 */
export async function compareServers(
  label: (which: "a" | "b", n: number) => string,
  a: { options: AuthzOptions; n: number },
  b: { options: AuthzOptions; n: number },
  opts: { c?: number; scenarios?: Array<[string, Job]>; loadCore?: number | null; runs?: number; together?: boolean; discardFirst?: boolean } = {},
): Promise<Comparison[]> {
  const { c = plan.targetC, scenarios = STORE_SCENARIOS, runs: n = plan.runs } = opts;
  const loadCore = opts.loadCore === undefined ? (LOAD_CORE ?? null) : opts.loadCore;
  const starts = await Promise.allSettled([startAuthz(a.options), startAuthz(b.options)]);
  const servers = starts.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  try {
    const failed = starts.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
    const [sa, sb] = servers as [Authz, Authz];
    const fa = (await createFixture(sa, a.n, () => "ES256")).byAlg.ES256;
    await probeFixture(sa, fa);
    const fb = (await createFixture(sb, b.n, () => "ES256")).byAlg.ES256;
    await probeFixture(sb, fb);
    const rows: Comparison[] = [];
    for (const [scenario, job] of scenarios) {
      const runs: { a: RunResult[]; b: RunResult[] } = { a: [], b: [] };
      const together: NonNullable<Comparison["together"]> = [];
      const [runA, runB] = [job(sa, fa, c, loadCore), job(sb, fb, c, loadCore)];
      if (opts.together && opts.discardFirst) await runTogether(sa, sb, runA, runB);
      for (let i = 0; i < n; i++) {
        if (opts.together) {
          const r = await runTogether(sa, sb, runA, runB);
          runs.a.push(r.a);
          runs.b.push(r.b);
          together.push(r.pair);
          continue;
        }
        const order = i % 2 === 0 ? (["a", "b"] as const) : (["b", "a"] as const);
        for (const which of order) runs[which].push(await (which === "a" ? runA : runB)());
      }
      const ca = summarize(runs.a);
      const cb = summarize(runs.b);
      const na = cellName(`${label("a", a.n)}.${scenario}`, c);
      const nb = cellName(`${label("b", b.n)}.${scenario}`, c);
      record.cells[na] = ca;
      record.cells[nb] = cb;
      record.baselines[`${label("b", b.n)}.${scenario}`] = `${label("a", a.n)}.${scenario}`;
      logCell(na, ca);
      logCell(nb, cb);
      if (opts.together) {
        const ratio = median(together.map((t) => t.ratio));
        log(`  together: b/a ${together.map((t) => t.ratio.toFixed(3)).join(" ")} (median ${ratio.toFixed(3)}); CPU b/a ${together.map((t) => t.cpuShare.toFixed(2)).join(" ")}; core busy ${together.map((t) => t.coreBusy.toFixed(2)).join(" ")}`);
        rows.push({ scenario, a: ca, b: cb, ratio, together });
      } else rows.push({ scenario, a: ca, b: cb, ratio: cb.rps.median / ca.rps.median });
    }
    return rows;
  } finally {
    for (const s of servers) await s.stop();
  }
}

export async function storeSizeScenario(): Promise<void> {
  const [small, big] = plan.storeSizes;
  log(`store size: ${small} vs ${big} clients/grants/API servers`);
  const rows = await compareServers((_w, n) => `store[${n}]`, { options: {}, n: small }, { options: {}, n: big });
  for (const r of rows) record.storeSize.push({ scenario: r.scenario, c: plan.targetC, small: r.a, big: r.b, ratio: r.ratio });
}
