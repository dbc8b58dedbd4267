// Store size: the same issuance and introspection (ES256, gRPC and HTTP, at
// the target concurrency) against a server holding `small` vs `big` clients,
// grants and API servers (all ES256 here, so requests rotate over all of
// them). Both servers stay up on the server core and the runs alternate
// between them (small, big / big, small ...) so drift from other load on the
// machine falls on both; the ratio is big/small of the median req/s.
import { startAuthz, type Authz, type AuthzOptions } from "../lib/authz.js";
import { createFixture, probeFixture, type AlgFixture } from "../lib/fixtures.js";
import { LOAD_CORE, log, plan } from "../lib/plan.js";
import { cellName, logCell, record } from "../lib/results.js";
import { summarize, type Cell, type RunResult } from "../lib/stats.js";
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
  /** b/a of the median req/s. */
  ratio: number;
}

/** Two servers with the given options (e.g. extra flags) and sizes, compared scenario by scenario. */
export async function compareServers(
  label: (which: "a" | "b", n: number) => string,
  a: { options: AuthzOptions; n: number },
  b: { options: AuthzOptions; n: number },
  opts: { c?: number; scenarios?: Array<[string, Job]>; loadCore?: number | null; runs?: number } = {},
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
      for (let i = 0; i < n; i++) {
        const order = i % 2 === 0 ? (["a", "b"] as const) : (["b", "a"] as const);
        for (const which of order) runs[which].push(await (which === "a" ? job(sa, fa, c, loadCore) : job(sb, fb, c, loadCore))());
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
      rows.push({ scenario, a: ca, b: cb, ratio: cb.rps.median / ca.rps.median });
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
