// Scenarios for server features still to come. Each is wired only when the
// server has what it needs (a `serve` flag in `--help`, or the gRPC service
// answering); until then it records "pending: ..." and measures nothing.
// - gateway upstream: HTTP issuance/introspection with --gateway-upstream
//   loopback vs in-process;
// - PostgreSQL vs SQLite: the store-size scenarios with --database-url;
// - --workers 2 vs 1 (server and load generator unpinned on both cores);
// - replica change propagation: a change on replica A until replica B acts on
//   it (two servers on one --database-url), p50/p99;
// - revocation to verifier: RevokeToken on replica A until the SDK verifier
//   (watch on replica B, no introspection) refuses the token, p50/p99;
// - metrics and tracing on (ops listener, an SDK recording every span, no
//   exporter) vs off, issuance over gRPC and HTTP;
// - DPoP: HTTP issuance with a fresh proof per request vs without.
import { randomBytes } from "node:crypto";
import { ClientServiceService, CreateClientRequest, TokenEndpointAuthMethod } from "../../gen/authz/v1/client.js";
import { CreateGrantRequest, DeleteGrantRequest, GrantServiceService } from "../../gen/authz/v1/grant.js";
import { IssueTokenRequest, RevokeTokenRequest, TokenServiceService } from "../../gen/authz/v1/token.js";
import { hasFlag, startAuthz, type Authz, type AuthzOptions } from "../lib/authz.js";
import { createFixture } from "../lib/fixtures.js";
import { laterFilter, LOAD_CORE, log, plan } from "../lib/plan.js";
import { startPostgres, type Postgres } from "../lib/postgres.js";
import { sleep } from "../lib/procs.js";
import { cellName, logCell, record, type LaterResult } from "../lib/results.js";
import { unary } from "../lib/rpc.js";
import { createVerifier, TokenSource } from "../../sdk/src/index.js";
import { createDpopProof, generateDpopKey } from "../../sdk/src/dpop.js";
import { httpLoad, type HttpRequestSpec } from "../lib/http_load.js";
import { median, percentile, summarize, type RunResult } from "../lib/stats.js";
import { compareServers, STORE_SCENARIOS, type Comparison } from "./store_size.js";
import { tracingFloor } from "./tracing_floor.js";

const pending = (why: string): LaterResult => ({ status: `pending: ${why}` });

/** One PostgreSQL for the scenarios that need it, started on first use, stopped after the last. */
let pgShared: Promise<Postgres> | undefined;
const postgres = () => (pgShared ??= startPostgres());
/** A smoke run only checks that a wired scenario works: its first cell. */
const smokeCut = (scenarios: typeof STORE_SCENARIOS) => (plan.smoke ? scenarios.slice(0, 1) : scenarios);
const summary = (rows: Comparison[], a: string, b: string) => rows.map((r) => `${r.scenario} ${b}/${a} ${r.ratio.toFixed(2)}`).join(", ");
const table = (rows: Comparison[]) => rows.map((r) => ({ scenario: r.scenario, a: r.a.rps.median, b: r.b.rps.median, ratio: r.ratio }));

export async function gatewayUpstreamScenario(): Promise<LaterResult> {
  if (!hasFlag("--gateway-upstream")) return pending("serve has no --gateway-upstream flag");
  const mode = (m: string) => ({ options: { flags: ["--gateway-upstream", m] }, n: plan.n });
  const rows = await compareServers((w) => `gateway[${w === "a" ? "loopback" : "in-process"}]`, mode("loopback"), mode("in-process"), { runs: plan.laterRuns, scenarios: smokeCut(STORE_SCENARIOS.filter(([s]) => s.startsWith("http."))) });
  return { status: "measured", data: { summary: summary(rows, "loopback", "in-process"), rows: table(rows) } };
}

export async function postgresScenario(): Promise<LaterResult> {
  if (!hasFlag("--database-url")) return pending("serve has no --database-url flag");
  const pg = await postgres();
  {
    const url = await pg.newDatabase();
    const rows = await compareServers((w) => (w === "a" ? "db[sqlite]" : "db[postgres]"), { options: {}, n: plan.n }, { options: { flags: ["--database-url", url] }, n: plan.n }, { runs: plan.laterRuns, scenarios: smokeCut(STORE_SCENARIOS) });
    return { status: "measured", data: { summary: summary(rows, "sqlite", "postgres"), rows: table(rows) } };
  }
}

export async function workersScenario(): Promise<LaterResult> {
  if (!hasFlag("--workers")) return pending("serve has no --workers flag");
  const c = Math.max(...plan.concurrency);
  const workers = (n: number) => ({ options: { flags: ["--workers", String(n)], core: null }, n: plan.n });
  const rows = await compareServers((w) => `workers[${w === "a" ? 1 : 2}]`, workers(1), workers(2), { c, loadCore: null, runs: plan.laterRuns, scenarios: smokeCut(STORE_SCENARIOS.filter(([s]) => s.includes(".issue."))) });
  return { status: "measured", data: { summary: `unpinned, c=${c}: ${summary(rows, "1", "2")}`, rows: table(rows) } };
}

/** Ratios as "median (n runs, min–max)". */
const spread = (ratios: number[]) => `${median(ratios).toFixed(2)} (${ratios.length} runs, ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;

const OTEL_RECORDING = new URL("../procs/otel_recording.mjs", import.meta.url).href;
const OTEL_RATIO = new URL("../procs/otel_ratio.mjs", import.meta.url).href;
const OTEL_SAMPLED_OUT = new URL("../procs/otel_sampled_out.mjs", import.meta.url).href;

/**
 * Issuance with metrics (an ops listener, every call counted) and tracing on
 * (an SDK, no exporter) against both off (`--ops-address ""`, no SDK), issue
 * 15's "within 5% of off". Four pairs, each run with both servers at once on
 * the one server core (compareServers `together`: ratios within ±3% where
 * runs one after the other scatter by ±25%): metrics alone; metrics and an
 * SDK that samples every call out; metrics and an SDK sampling 1 in 100
 * root calls (OTEL_TRACES_SAMPLER=parentbased_traceidratio, ARG 0.01: how a
 * service at this rate is traced); metrics and an SDK recording every span.
 * And the floor under the last: the same SDK's spans around a minimal token
 * endpoint (scenarios/tracing_floor.ts).
 */
export async function observabilityScenario(): Promise<LaterResult> {
  if (!hasFlag("--ops-address")) return pending("serve has no --ops-address flag");
  const off = { options: { flags: ["--ops-address", ""] }, n: plan.n };
  const metrics = { options: { flags: ["--ops-address", "127.0.0.1:0"] }, n: plan.n };
  const traced = (sdk: string) => ({ options: { ...metrics.options, env: { NODE_OPTIONS: `--import ${sdk}` } }, n: plan.n });
  const scenarios = smokeCut(STORE_SCENARIOS.filter(([s]) => s.includes(".issue.")));
  // A process keeps the speed its start-up gave it (JIT, memory layout) to a
  // few percent: each pair is started afresh `starts` times, its first run
  // discarded (warm-up), and the ratio is the median over all kept runs.
  const [starts, runs] = plan.smoke ? [1, 1] : [2, 3];
  const pairs: Array<[string, { options: AuthzOptions; n: number }]> = [
    ["metrics", metrics],
    ["metrics, tracing sampled out", traced(OTEL_SAMPLED_OUT)],
    ["metrics, tracing 1%", traced(OTEL_RATIO)],
    ["metrics, every span recorded", traced(OTEL_RECORDING)],
  ];
  const summaries: string[] = [];
  const rows: Array<Record<string, unknown>> = [];
  for (const [name, on] of pairs) {
    const kept = new Map<string, NonNullable<Comparison["together"]>>();
    for (let i = 0; i < starts; i++) {
      // Each pair and start has its own "off" cells (a label shared by all would let the last one's overwrite the others').
      const compared = await compareServers((w) => `observability[${w === "a" ? `off, vs ${name}` : name}, start ${i + 1}]`, off, on, { runs, scenarios, together: true, discardFirst: !plan.smoke });
      for (const r of compared) kept.set(r.scenario, [...(kept.get(r.scenario) ?? []), ...r.together!]);
    }
    const ratios = [...kept].map(([scenario, together]) => ({ scenario, ratio: median(together.map((t) => t.ratio)), runs: together.map((t) => t.ratio), cpuShare: median(together.map((t) => t.cpuShare)), coreBusy: Math.min(...together.map((t) => t.coreBusy)) }));
    summaries.push(`${name}: ${ratios.map((r) => `${r.scenario} on/off ${spread(r.runs)}`).join(", ")}`);
    rows.push(...ratios.map((r) => ({ ...r, scenario: `${name}: ${r.scenario}` })));
  }
  const floor = await tracingFloor(OTEL_RECORDING, starts, runs);
  summaries.push(`floor (node:http, an ES256 token in the same three spans), every span recorded: http on/off ${spread(floor)}`);
  rows.push({ scenario: "floor, every span recorded: http.issue.ES256", ratio: median(floor), runs: floor });
  return { status: "measured", data: { summary: `both at once on one core: ${summaries.join("; ")}`, rows } };
}

/**
 * The cost of DPoP proof checks on issuance (issue 17): HTTP client
 * credentials with a fresh ES256 proof per request (signature, claims, a
 * single-use jti row in the store) against the same requests without, on one
 * server, runs interleaved. Proofs are single use, so each run gets its own,
 * made before it starts (enough for 1.5x the plain rate), and no warm-up run
 * replays them: the warm-up has proofs of its own.
 */
export async function dpopScenario(): Promise<LaterResult> {
  const authz = await startAuthz();
  try {
    const f = (await createFixture(authz, plan.n, () => "ES256")).byAlg.ES256;
    const { token_endpoint: htu } = (await (await fetch(`${authz.httpBase}/.well-known/oauth-authorization-server`)).json()) as { token_endpoint: string };
    const key = await generateDpopKey("ES256");
    const withProofs = async (count: number) =>
      Promise.all(Array.from({ length: count }, async (_, i) => {
        const r = f.httpIssue[i % f.httpIssue.length]!;
        return { ...r, headers: { ...r.headers, dpop: await createDpopProof(key, { htm: "POST", htu }) } };
      }));
    const c = plan.targetC;
    const load = (requests: HttpRequestSpec[], seconds: number) => httpLoad({ base: authz.httpBase, requests, connections: c, warmupSeconds: 0, durationSeconds: seconds }, LOAD_CORE);
    const runs: { plain: RunResult[]; dpop: RunResult[] } = { plain: [], dpop: [] };
    for (let i = 0; i < plan.laterRuns; i++) {
      if (plan.warmup > 0) await load(f.httpIssue, plan.warmup);
      const plain = await load(f.httpIssue, plan.seconds);
      runs.plain.push(plain);
      const budget = (seconds: number) => Math.ceil(Math.max(plain.rps, 200) * seconds * 1.5);
      if (plan.warmup > 0) await load(await withProofs(budget(plan.warmup)), plan.warmup);
      runs.dpop.push(await load(await withProofs(budget(plan.seconds)), plan.seconds));
    }
    const plainCell = summarize(runs.plain);
    const dpopCell = summarize(runs.dpop);
    record.cells[cellName("dpop[off].http.issue.ES256", c)] = plainCell;
    record.cells[cellName("dpop[on].http.issue.ES256", c)] = dpopCell;
    record.baselines["dpop[on].http.issue.ES256"] = "dpop[off].http.issue.ES256";
    logCell(cellName("dpop[off].http.issue.ES256", c), plainCell);
    logCell(cellName("dpop[on].http.issue.ES256", c), dpopCell);
    const ratio = dpopCell.rps.median / plainCell.rps.median;
    return { status: dpopCell.errors > 0 ? `measured (${dpopCell.errors} errors)` : "measured", data: { summary: `http.issue.ES256 c=${c} with DPoP/without ${ratio.toFixed(2)}`, ratio } };
  } finally {
    await authz.stop();
  }
}

const latencySummary = (name: string, ms: number[]) => {
  const s = Float64Array.from(ms).sort();
  return { name, samples: ms.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
};

/** Polls `check` (1 ms apart) until it is true; ms from `since`, or undefined after `limitMs`. */
async function until(check: () => Promise<boolean>, since: number, limitMs = 10_000): Promise<number | undefined> {
  while (performance.now() - since < limitMs) {
    if (await check()) return performance.now() - since;
    await sleep(1);
  }
  return undefined;
}

export async function replicaScenario(): Promise<LaterResult> {
  if (!hasFlag("--database-url")) return pending("serve has no --database-url flag (replicas share one database)");
  const pg = await postgres();
  const servers: Authz[] = [];
  try {
    const url = await pg.newDatabase();
    const shared = { flags: ["--database-url", url], env: { AUTHZ_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64url") }, admin: { id: `bench-admin-${randomBytes(4).toString("hex")}`, secret: randomBytes(32).toString("base64url") } };
    const a = await startAuthz(shared); // first alone: it creates the schema and the admin client
    servers.push(a);
    const b = await startAuthz(shared);
    servers.push(b);
    const f = (await createFixture(a, 4, () => "ES256")).byAlg.ES256;
    const created: number[] = [];
    const deleted: number[] = [];
    let lost = 0;
    for (let i = 0; i < plan.latencySamples; i++) {
      const c = await unary(a.channel, ClientServiceService.createClient, CreateClientRequest.fromPartial({ client: { name: `replica ${i}`, tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST } }), a.adminMetadata);
      const client = { clientId: c.client!.clientId, clientSecret: c.clientSecret };
      const issueOnB = () =>
        unary(b.channel, TokenServiceService.issueToken, IssueTokenRequest.fromPartial({ client, audience: f.audiences[0]! })).then(
          () => true,
          () => false,
        );
      await issueOnB(); // B has now seen (and may cache) "no grant"
      const t0 = performance.now();
      const { grant } = await unary(a.channel, GrantServiceService.createGrant, CreateGrantRequest.fromPartial({ grant: { clientId: client.clientId, apiServerId: f.apiServerIds[0]!, scopes: ["orders:read"] } }), a.adminMetadata);
      const up = await until(issueOnB, t0);
      if (up === undefined) lost++;
      else created.push(up);
      const t1 = performance.now();
      await unary(a.channel, GrantServiceService.deleteGrant, DeleteGrantRequest.fromPartial({ id: grant!.id }), a.adminMetadata);
      const down = await until(async () => !(await issueOnB()), t1);
      if (down === undefined) lost++;
      else deleted.push(down);
    }
    const stats = [latencySummary("grant created on A -> issuance on B", created), latencySummary("grant deleted on A -> refused on B", deleted)];
    return { status: lost ? `measured (${lost} changes not seen on B within 10 s)` : "measured", data: { summary: stats.map((s) => `${s.name}: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`).join("; "), stats } };
  } finally {
    for (const s of servers) await s.stop();
  }
}

/**
 * Issue 14's bound: a token revoked on replica A is refused by a resource
 * server verifying locally (the SDK verifier, watch on, no introspection)
 * whose watch is connected to replica B. Time from the RevokeToken call on A
 * to the verifier's refusal on B's side, per token.
 */
export async function revocationScenario(): Promise<LaterResult> {
  if (!hasFlag("--database-url")) return pending("serve has no --database-url flag (replicas share one database)");
  const pg = await postgres();
  const servers: Authz[] = [];
  const issuer = "http://authz.bench";
  try {
    const url = await pg.newDatabase();
    const shared = {
      flags: ["--database-url", url],
      env: { AUTHZ_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64url"), AUTHZ_ISSUER: issuer },
      admin: { id: `bench-admin-${randomBytes(4).toString("hex")}`, secret: randomBytes(32).toString("base64url") },
    };
    const a = await startAuthz(shared);
    servers.push(a);
    const b = await startAuthz(shared);
    servers.push(b);
    const fixture = await createFixture(a, 4, () => "ES256");
    const f = fixture.byAlg.ES256;
    const arrived = new Map<string, () => void>();
    const verifier = createVerifier({
      issuer,
      audience: f.audiences,
      algorithms: ["ES256"],
      jwksUri: `${b.httpBase}/.well-known/jwks.json`,
      watch: {
        address: b.grpcTarget,
        token: new TokenSource({ address: b.grpcTarget, ...fixture.introspector, audience: "urn:authz:management", scope: "tokens:introspect" }),
        failMode: "closed",
        onEvents: (events) => {
          for (const e of events) if (e.subject?.jti) arrived.get(e.subject.jti)?.();
        },
      },
    });
    const latencies: number[] = [];
    let lost = 0;
    let wrong = 0;
    for (let i = 0; i < plan.latencySamples; i++) {
      const client = f.clients[i % f.clients.length]!;
      const { accessToken: token } = await unary(b.channel, TokenServiceService.issueToken, IssueTokenRequest.fromPartial({ client, audience: f.audiences[i % f.clients.length]! }));
      const { jti } = await verifier.verify(token); // valid, and the watch is live (fail closed would refuse otherwise)
      const seen = new Promise<boolean>((resolve) => arrived.set(jti, () => resolve(true)));
      const t0 = performance.now();
      await unary(a.channel, TokenServiceService.revokeToken, RevokeTokenRequest.fromPartial({ client, token }));
      const ok = await Promise.race([seen, sleep(10_000).then(() => false)]);
      arrived.delete(jti);
      const refused = await verifier.verify(token).then(
        () => false,
        (err: { code?: string }) => err.code === "ERR_TOKEN_REVOKED",
      );
      if (!ok) lost++;
      else if (!refused) wrong++;
      else latencies.push(performance.now() - t0);
    }
    verifier.close();
    const s = latencySummary("revoked on replica A -> refused by a local verifier watching replica B", latencies);
    log(`revocation: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`);
    const problems = [lost ? `${lost} not seen within 10 s` : "", wrong ? `${wrong} seen but not refused` : ""].filter(Boolean).join(", ");
    if (wrong) process.exitCode = 1;
    return { status: problems ? `measured (${problems})` : "measured", data: { summary: `${s.name}: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`, stats: s } };
  } finally {
    for (const s of servers) await s.stop();
  }
}

export const LATER: Array<[string, () => Promise<LaterResult>]> = [
  ["gateway upstream (in-process vs loopback)", gatewayUpstreamScenario],
  ["PostgreSQL vs SQLite", postgresScenario],
  ["--workers 2 vs 1", workersScenario],
  ["replica change propagation", replicaScenario],
  ["revocation to verifier", revocationScenario],
  ["metrics and tracing on vs off", observabilityScenario],
  ["DPoP proofs on issuance", dpopScenario],
];

/** Runs every later scenario; a failure is recorded, never fatal to the run. */
export async function laterScenarios(): Promise<void> {
  for (const [name, run] of LATER) {
    if (!name.includes(laterFilter)) continue;
    try {
      record.later[name] = await run();
    } catch (err) {
      record.later[name] = { status: `failed: ${(err as Error).message.split("\n")[0]}` };
      process.exitCode = 1; // a wired scenario that fails fails the run (CI must see it)
    }
    log(`${name}: ${record.later[name]!.status}`);
  }
  if (pgShared) await (await pgShared.catch(() => undefined))?.stop();
}
