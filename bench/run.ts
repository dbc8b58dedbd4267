// npm run bench [-- --smoke]
// Measures authz in one run on this machine: issuance, introspection and JWKS
// over gRPC and HTTP at several concurrencies, against ceilings (raw jose
// sign/verify, an empty gRPC unary call, local verification) and a peer
// (node-oidc-provider), all measured in the same run. The server and the peer
// run in their own processes (pinned to core 0 when taskset works); the load
// generators run in other processes (pinned to core 1). Loopback only.
import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { ApiServerServiceClient, CreateApiServerRequest } from "../gen/authz/v1/api_server.js";
import { ClientServiceClient, CreateClientRequest, TokenEndpointAuthMethod } from "../gen/authz/v1/client.js";
import { SigningAlg } from "../gen/authz/v1/common.js";
import { CreateGrantRequest, GrantServiceClient } from "../gen/authz/v1/grant.js";
import { IntrospectTokenRequest, IssueTokenRequest, TokenServiceClient } from "../gen/authz/v1/token.js";
import { promisify } from "../src/sdk/promisify.js";
import { bearerInterceptor } from "../src/sdk/token_source.js";
import { grpcLoad, h2Load, h2loadAvailable } from "./lib/grpc_load.js";
import { httpLoad } from "./lib/http_load.js";
import { canPin, freePort, jsonResult, spawnNode, stopProcess, waitForLine } from "./lib/procs.js";
import { summarize, type Cell, type RunResult } from "./lib/stats.js";

const smoke = process.argv.includes("--smoke");
const plan = smoke
  ? { n: 10, concurrency: [1, 4], runs: 1, seconds: 1, warmup: 0.3, ceilingMs: 300 }
  : { n: 300, concurrency: [1, 16, 64], runs: 3, seconds: 5, warmup: 1, ceilingMs: 3000 };
const SERVER_CORE = canPin ? 0 : undefined;
const LOAD_CORE = canPin ? 1 : undefined;
const ALGS = ["ES256", "RS256"] as const;
type Alg = (typeof ALGS)[number];

const scratch = mkdtempSync(join(tmpdir(), "authz-bench-"));
const results: Record<string, Cell> = {};
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

async function measure(name: string, run: () => Promise<RunResult>): Promise<Cell> {
  const runs: RunResult[] = [];
  for (let i = 0; i < plan.runs; i++) runs.push(await run());
  const cell = summarize(runs);
  results[name] = cell;
  log(`${name}: ${Math.round(cell.rps.median)} req/s, p50 ${cell.p50.toFixed(2)} ms, p99 ${cell.p99.toFixed(2)} ms${cell.errors ? `, ${cell.errors} errors` : ""}`);
  return cell;
}

async function main(): Promise<void> {
  log(`${smoke ? "smoke" : "full"} run; ${cpus().length} cores; pinned: ${canPin}`);
  log(h2loadAvailable ? "gRPC load: h2load (1 connection, c streams)" : "gRPC load: h2load not found (apt-get install nghttp2-client); using grpc-js worker processes, which cap the figures on this machine");
  const ceilings = jsonResult<Record<string, number>>(spawnNode([new URL("ceilings.ts", import.meta.url).pathname, JSON.stringify({ durationMs: plan.ceilingMs })], { core: SERVER_CORE }));
  const rawCeilings = await ceilings;
  log(`raw jose (1 core): ${Object.entries(rawCeilings).map(([k, v]) => `${k} ${Math.round(v)}/s`).join(", ")}`);

  // --- authz in its own process, warm state of N API servers, clients and grants.
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const admin = { id: "bench-admin", secret: randomBytes(32).toString("base64url") };
  const issuer = `http://127.0.0.1:${httpPort}`;
  const server = spawnNode([new URL("../src/main.ts", import.meta.url).pathname, "serve", "--data-file", join(scratch, "authz.db"), "--grpc-address", `127.0.0.1:${grpcPort}`, "--http-address", `127.0.0.1:${httpPort}`], {
    core: SERVER_CORE,
    env: { AUTHZ_ADMIN_CLIENT_ID: admin.id, AUTHZ_ADMIN_CLIENT_SECRET: admin.secret },
  });
  try {
    await waitForLine(server, /"msg":"http listening"/);
    const target = `127.0.0.1:${grpcPort}`;
    const fixture = await setUp(target, admin, issuer);

    // --- ceilings measured in this run against the same server.
    const jwksFile = join(scratch, "jwks.json");
    writeFileSync(jwksFile, await (await fetch(`${issuer}/.well-known/jwks.json`)).text());
    const tokensFile = join(scratch, "tokens.json");
    writeFileSync(tokensFile, JSON.stringify(fixture.tokens));
    const local = await jsonResult<Record<string, number>>(spawnNode([new URL("ceilings.ts", import.meta.url).pathname, JSON.stringify({ durationMs: plan.ceilingMs, jwksFile, tokensFile, issuer })], { core: SERVER_CORE }));
    Object.assign(rawCeilings, { local_verify_ES256: local.local_verify_ES256, local_verify_RS256: local.local_verify_RS256 });

    const grpcJob = (path: string, requests: Buffer[], concurrency: number) => () =>
      (h2loadAvailable ? h2Load : grpcLoad)({ target, path, requests, concurrency, warmupMs: plan.warmup * 1000, durationMs: plan.seconds * 1000 }, scratch, LOAD_CORE);
    const httpJob = (path: string, method: "GET" | "POST", requests: Array<{ headers?: Record<string, string>; body?: string }>, connections: number) => () =>
      httpLoad({ url: `${issuer}${path}`, method, requests, connections, warmupSeconds: plan.warmup, durationSeconds: plan.seconds });

    for (const c of plan.concurrency) await measure(`grpc.empty_unary c=${c}`, grpcJob("/grpc.health.v1.Health/Check", [Buffer.alloc(0)], c));
    for (const alg of ALGS) {
      for (const c of plan.concurrency) await measure(`grpc.issue.${alg} c=${c}`, grpcJob("/authz.v1.TokenService/IssueToken", fixture.grpcIssue[alg], c));
      for (const c of plan.concurrency) await measure(`http.issue.${alg} c=${c}`, httpJob("/oauth/token", "POST", fixture.httpIssue[alg], c));
    }
    for (const c of plan.concurrency) await measure(`grpc.introspect.ES256 c=${c}`, grpcJob("/authz.v1.TokenService/IntrospectToken", fixture.grpcIntrospect, c));
    for (const c of plan.concurrency) await measure(`http.introspect.ES256 c=${c}`, httpJob("/oauth/introspect", "POST", fixture.httpIntrospect, c));
    for (const c of plan.concurrency) await measure(`http.jwks c=${c}`, httpJob("/.well-known/jwks.json", "GET", [{}], c));
  } finally {
    await stopProcess(server);
  }

  // --- the peer, same load generator and concurrency, same algorithm.
  const peerClients = Array.from({ length: plan.n }, (_, i) => ({ id: `peer-client-${i}`, secret: randomBytes(32).toString("base64url") }));
  for (const alg of ALGS) {
    const port = await freePort();
    const peer = spawnNode([new URL("peer/oidc_provider.ts", import.meta.url).pathname, JSON.stringify({ port, clients: peerClients, alg })], { core: SERVER_CORE });
    try {
      await waitForLine(peer, /peer listening/);
      const requests = peerClients.map((c, i) => ({
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(c.id, c.secret) },
        body: new URLSearchParams({ grant_type: "client_credentials", resource: `https://api-${i}.bench.example.com`, scope: "orders:read" }).toString(),
      }));
      const probe = await fetch(`http://127.0.0.1:${port}/token`, { method: "POST", headers: requests[0]!.headers, body: requests[0]!.body });
      const probeBody = (await probe.json()) as { access_token?: string };
      if (probe.status !== 200 || probeBody.access_token?.split(".").length !== 3) throw new Error(`peer did not issue a JWT: ${probe.status} ${JSON.stringify(probeBody)}`);
      for (const c of plan.concurrency) {
        await measure(`peer.http.issue.${alg} c=${c}`, () => httpLoad({ url: `http://127.0.0.1:${port}/token`, method: "POST", requests, connections: c, warmupSeconds: plan.warmup, durationSeconds: plan.seconds }));
      }
    } finally {
      await stopProcess(peer);
    }
  }

  report(rawCeilings);
  rmSync(scratch, { recursive: true, force: true });
}

interface Fixture {
  grpcIssue: Record<Alg, Buffer[]>;
  httpIssue: Record<Alg, Array<{ headers: Record<string, string>; body: string }>>;
  grpcIntrospect: Buffer[];
  httpIntrospect: Array<{ headers: Record<string, string>; body: string }>;
  tokens: Record<Alg, string[]>;
}

/** Creates N API servers (half ES256, half RS256), N clients with a grant each, and an introspecting client. */
async function setUp(target: string, admin: { id: string; secret: string }, issuer: string): Promise<Fixture> {
  const creds = grpc.credentials.createInsecure();
  const tokens = promisify(new TokenServiceClient(target, creds));
  const adminToken = (await tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: admin.id, clientSecret: admin.secret }, audience: "urn:authz:management" }))).accessToken;
  const managed = { interceptors: [bearerInterceptor(async () => adminToken)] };
  const apiServers = promisify(new ApiServerServiceClient(target, creds, managed));
  const clients = promisify(new ClientServiceClient(target, creds, managed));
  const grants = promisify(new GrantServiceClient(target, creds, managed));
  const management = (await apiServers.listApiServers({ pageSize: 1, pageToken: "", filter: 'identifier = "urn:authz:management"' })).apiServers[0]!;
  const introspector = await clients.createClient(CreateClientRequest.fromPartial({ client: { name: "bench-introspector" } }));
  const rs = { clientId: introspector.client!.clientId, clientSecret: introspector.clientSecret };
  await grants.createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: rs.clientId, apiServerId: management.id, scopes: ["tokens:introspect"] } }));

  const fixture: Fixture = { grpcIssue: { ES256: [], RS256: [] }, httpIssue: { ES256: [], RS256: [] }, grpcIntrospect: [], httpIntrospect: [], tokens: { ES256: [], RS256: [] } };
  for (let i = 0; i < plan.n; i++) {
    const alg: Alg = i % 2 === 0 ? "ES256" : "RS256";
    const identifier = `https://api-${i}.bench.example.com`;
    const { apiServer } = await apiServers.createApiServer(
      CreateApiServerRequest.fromPartial({ apiServer: { name: `API ${i}`, identifier, signingAlg: alg === "ES256" ? SigningAlg.SIGNING_ALG_ES256 : SigningAlg.SIGNING_ALG_RS256, tokenLifetimeSeconds: 3600, permissions: [{ value: "orders:read" }, { value: "orders:write" }] } }),
    );
    const created = await clients.createClient(CreateClientRequest.fromPartial({ client: { name: `client ${i}`, tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC } }));
    const client = { clientId: created.client!.clientId, clientSecret: created.clientSecret };
    await grants.createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: client.clientId, apiServerId: apiServer!.id, scopes: ["orders:read"] } }));
    await grants.createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: rs.clientId, apiServerId: apiServer!.id } }));
    fixture.grpcIssue[alg].push(Buffer.from(IssueTokenRequest.encode(IssueTokenRequest.fromPartial({ client, audience: identifier, scope: "orders:read" })).finish()));
    fixture.httpIssue[alg].push({
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(client.clientId, client.clientSecret) },
      body: new URLSearchParams({ grant_type: "client_credentials", audience: identifier, scope: "orders:read" }).toString(),
    });
    const { accessToken } = await tokens.issueToken(IssueTokenRequest.fromPartial({ client, audience: identifier }));
    fixture.tokens[alg].push(accessToken);
    if (alg === "ES256") {
      fixture.grpcIntrospect.push(Buffer.from(IntrospectTokenRequest.encode(IntrospectTokenRequest.fromPartial({ client: rs, token: accessToken })).finish()));
      fixture.httpIntrospect.push({ headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(rs.clientId, rs.clientSecret) }, body: new URLSearchParams({ token: accessToken }).toString() });
    }
  }
  for (const c of [tokens, apiServers, clients, grants]) c.raw.close();
  void issuer;
  return fixture;
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

/** The table (stdout) and the JSON file. */
function report(ceilings: Record<string, number>): void {
  const rows: string[][] = [];
  const targets: string[] = [];
  const fmt = (n: number) => (n >= 100 ? String(Math.round(n)) : n.toFixed(1));
  for (const [name, cell] of Object.entries(results)) {
    const [kind, c] = name.split(" c=");
    let ratio = "";
    const alg = /\.(ES256|RS256)$/.exec(kind!)?.[1];
    if (kind!.startsWith("grpc.issue.")) ratio = `${(cell.rps.median / ceilings[`sign_${alg}`]!).toFixed(2)} of jose sign`;
    if (kind!.startsWith("http.issue.")) {
      const peer = results[`peer.${kind} c=${c}`];
      if (peer) ratio = `${(cell.rps.median / peer.rps.median).toFixed(2)}x peer`;
    }
    if (kind!.includes(".introspect.")) ratio = `${(cell.rps.median / ceilings.verify_ES256!).toFixed(2)} of jose verify`;
    if (kind === "http.jwks") {
      const empty = results[`grpc.empty_unary c=${c}`];
      if (empty) ratio = `${(cell.rps.median / empty.rps.median).toFixed(2)} of empty gRPC`;
    }
    rows.push([kind!, c!, `${fmt(cell.rps.median)} (${fmt(cell.rps.min)}–${fmt(cell.rps.max)})`, cell.p50.toFixed(2), cell.p99.toFixed(2), ratio, cell.errors ? String(cell.errors) : ""]);
  }
  const best = (prefix: string) => Math.max(...Object.entries(results).filter(([k]) => k.startsWith(prefix)).map(([, v]) => v.rps.median));
  for (const alg of ALGS) {
    const ours = best(`http.issue.${alg} `);
    const peer = best(`peer.http.issue.${alg} `);
    targets.push(`HTTP issuance ${alg} >= 2x peer: ${(ours / peer).toFixed(2)}x ${ours / peer >= 2 ? "MET" : "NOT MET"}`);
  }
  const grpcEs = best("grpc.issue.ES256 ") / ceilings.sign_ES256!;
  targets.push(`gRPC issuance ES256 >= 50% of jose ES256 sign: ${(grpcEs * 100).toFixed(0)}% ${grpcEs >= 0.5 ? "MET" : "NOT MET"}`);
  const intro = best("grpc.introspect.ES256 ") / ceilings.verify_ES256!;
  targets.push(`introspection >= 50% of jose ES256 verify: ${(intro * 100).toFixed(0)}% ${intro >= 0.5 ? "MET" : "NOT MET"}`);
  const c16 = Object.entries(results).filter(([k]) => k.endsWith(" c=16") && !k.startsWith("peer."));
  if (c16.length) {
    const worst = Math.max(...c16.map(([, v]) => v.p99));
    targets.push(`p99 < 10 ms at c=16: worst ${worst.toFixed(2)} ms ${worst < 10 ? "MET" : "NOT MET"}`);
  }

  const header = ["scenario", "c", "req/s median (min–max)", "p50 ms", "p99 ms", "ratio", "errors"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => "| " + r.map((v, i) => v.padEnd(widths[i]!)).join(" | ") + " |";
  const out = [
    `authz benchmark (${smoke ? "smoke" : "full"}), ${new Date().toISOString()}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), pinned: ${canPin}, node ${process.version}`,
    `N = ${plan.n} API servers/clients/grants; ${plan.runs} runs x ${plan.seconds} s per cell after ${plan.warmup} s warm-up; gRPC load: ${h2loadAvailable ? "h2load" : "grpc-js workers"}; HTTP load: autocannon`,
    "",
    "Ceilings (one core): " + Object.entries(ceilings).map(([k, v]) => `${k} ${Math.round(v)}/s`).join(", "),
    "",
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    "",
    "Targets:",
    ...targets.map((t) => `- ${t}`),
  ].join("\n");
  process.stdout.write(out + "\n");
  const dir = new URL("results/", import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${smoke ? "smoke" : "bench"}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ smoke, plan, pinned: canPin, grpcLoad: h2loadAvailable ? "h2load" : "grpc-js",  node: process.version, cpu: cpus()[0]?.model, ceilings, results, targets }, null, 2));
  log(`wrote ${file}`);
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? err}`);
  rmSync(scratch, { recursive: true, force: true });
  process.exitCode = 1;
});
