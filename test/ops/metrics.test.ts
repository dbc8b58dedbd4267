import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { IntrospectTokenRequest, IssueTokenRequest } from "../../gen/authz/v1/token.js";
import { MANAGEMENT_API_SERVER_ID } from "../../src/domain/constants.js";
import { basic, createApiServer, createClient, grant } from "../helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "../helpers/server.js";
import { deltas, scrape, series, startOps } from "./helpers.js";

/** Prometheus metrics on the ops listener (issue 15, item 1). */
let t: TestServer;
let ops: Awaited<ReturnType<typeof startOps>>;
beforeAll(async () => {
  // Limits off: every request of the flood below must reach client authentication and the grant checks (the limits: limits.test.ts).
  t = await startTestServer({ config: { authFailuresPerMinute: 0, tokenRatePerSecond: 0 } });
  ops = await startOps(t);
});
afterAll(async () => {
  await ops.close();
  await t.cleanup();
});

const FAMILIES = ["authz_rpc_requests_total", "authz_token_requests_total", "authz_tokens_issued_total", "authz_introspections_total", "authz_client_auth_failures_total", "authz_rate_limited_total"];
const TOKEN = "/authz.v1.OAuthService/Token";
const INTROSPECT = "/authz.v1.OAuthService/Introspect";
const ISSUE = "/authz.v1.TokenService/IssueToken";

function tokenOverHttp(fields: Record<string, string>, authorization?: string): Promise<Response> {
  return fetch(`${t.httpUrl}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(authorization ? { authorization } : {}) },
    body: new URLSearchParams({ grant_type: "client_credentials", ...fields }).toString(),
  });
}

async function fixture() {
  const api = await createApiServer(t);
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, api.id, ["orders:read"]);
  // A resource server allowed to introspect this API server's tokens.
  const rs = await createClient(t);
  await grant(t, rs.client.clientId, api.id, ["orders:read"]);
  await grant(t, rs.client.clientId, MANAGEMENT_API_SERVER_ID, ["tokens:introspect"]);
  return { api, client, secret, rs };
}

describe("a scrape after a known sequence of calls", () => {
  test("shows exactly those counts, by RPC, transport, code, result, API server and reason", async () => {
    const f = await fixture();
    const before = await scrape(ops.url);

    const issued: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await tokenOverHttp({ client_id: f.client.clientId, client_secret: f.secret, audience: f.api.identifier });
      expect(res.status).toBe(200);
      issued.push(((await res.json()) as { access_token: string }).access_token);
    }
    expect((await tokenOverHttp({ client_id: f.client.clientId, client_secret: "wrong", audience: f.api.identifier })).status).toBe(401);
    await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: f.client.clientId, clientSecret: f.secret }, audience: f.api.identifier }));
    for (const token of [issued[0]!, "not-a-token"]) {
      const res = await fetch(`${t.httpUrl}/oauth/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(f.rs.client.clientId, f.rs.secret) }, body: `token=${token}` });
      expect(res.status).toBe(200);
    }
    const typed = await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: { clientId: f.rs.client.clientId, clientSecret: f.rs.secret }, token: issued[1]! }));
    expect(typed.active).toBe(true);
    const denied = await rpcError(t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: { clientId: f.client.clientId, clientSecret: f.secret }, token: issued[1]! })));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    // Bytes that are no IssueTokenRequest: the caller's fault (invalid_request), not a server error.
    const raw = new grpc.Client(t.address, grpc.credentials.createInsecure());
    const undecodable = await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest(ISSUE, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff, 0xff]), (err) => resolve(err)));
    raw.close();
    expect(undecodable?.code).toBe(grpc.status.INVALID_ARGUMENT);

    const after = await scrape(ops.url);
    expect(deltas(before, after, FAMILIES)).toEqual({
      [series("authz_rpc_requests_total", { method: TOKEN, transport: "http", code: "OK" })]: 2,
      [series("authz_rpc_requests_total", { method: TOKEN, transport: "http", code: "UNAUTHENTICATED" })]: 1,
      [series("authz_rpc_requests_total", { method: ISSUE, transport: "grpc", code: "OK" })]: 1,
      [series("authz_rpc_requests_total", { method: ISSUE, transport: "grpc", code: "INVALID_ARGUMENT" })]: 1,
      [series("authz_token_requests_total", { result: "invalid_request" })]: 1,
      [series("authz_rpc_requests_total", { method: INTROSPECT, transport: "http", code: "OK" })]: 2,
      [series("authz_rpc_requests_total", { method: "/authz.v1.TokenService/IntrospectToken", transport: "grpc", code: "OK" })]: 1,
      [series("authz_rpc_requests_total", { method: "/authz.v1.TokenService/IntrospectToken", transport: "grpc", code: "PERMISSION_DENIED" })]: 1,
      [series("authz_token_requests_total", { result: "issued" })]: 3,
      [series("authz_token_requests_total", { result: "invalid_client" })]: 1,
      [series("authz_tokens_issued_total", { api_server: f.api.id })]: 3,
      [series("authz_introspections_total", { result: "active" })]: 2,
      [series("authz_introspections_total", { result: "inactive" })]: 1,
      [series("authz_introspections_total", { result: "insufficient_scope" })]: 1,
      [series("authz_client_auth_failures_total", { reason: "bad_credentials" })]: 1,
    });
    // Latency histograms: one observation per call, buckets cumulative.
    const count = series("authz_rpc_duration_seconds_count", { method: TOKEN, transport: "http" });
    expect((after.get(count) ?? 0) - (before.get(count) ?? 0)).toBe(3);
    expect(after.get(series("authz_rpc_duration_seconds_bucket", { method: TOKEN, transport: "http", le: "+Inf" }))).toBe(after.get(count));
    expect(after.get(series("authz_rpc_duration_seconds_sum", { method: TOKEN, transport: "http" }))).toBeGreaterThan(0);
  });

  test("the rest is there: caches, change feed, store latency, signing keys, readiness, process", async () => {
    const m = await scrape(ops.url);
    expect(m.get(series("authz_cache_lookups_total", { cache: "clients", result: "hit" }))).toBeGreaterThan(0);
    expect(m.get(series("authz_cache_lookups_total", { cache: "clients", result: "miss" }))).toBeGreaterThan(0);
    expect(m.has(series("authz_cache_entries", { cache: "grants" }))).toBe(true);
    expect(m.get(series("authz_change_feed_position"))).toBe(t.server.feed.position());
    expect(m.get(series("authz_change_feed_lag_seconds"))).toBeGreaterThanOrEqual(0);
    expect(m.get(series("authz_store_duration_seconds_count", { operation: "clients.get" }))).toBeGreaterThan(0);
    expect(m.get(series("authz_store_duration_seconds_count", { operation: "transaction" }))).toBeGreaterThan(0);
    for (const alg of ["ES256", "RS256", "EdDSA"]) {
      expect(m.get(series("authz_signing_key_age_seconds", { alg }))).toBeGreaterThanOrEqual(0);
      expect(m.get(series("authz_signing_keys", { alg, state: "active" }))).toBe(1);
    }
    expect(m.get(series("authz_ready"))).toBe(1);
    expect(m.get(series("process_cpu_user_seconds_total"))).toBeGreaterThan(0);
    expect([...m.keys()].some((k) => k.startsWith("nodejs_eventloop_lag"))).toBe(true);
  });
});

describe("label values come from bounded sets only", () => {
  test("a flood of random client ids, audiences, paths, methods and tokens adds no series and no label value", async () => {
    const f = await fixture();
    const marker = `flood${randomBytes(4).toString("hex")}`;
    let n = 0;
    const random = () => `${marker}${++n}${randomBytes(6).toString("hex")}`;
    const raw = new grpc.Client(t.address, grpc.credentials.createInsecure());
    const unknownMethod = (path: string) =>
      new Promise<grpc.status>((resolve) => raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err) => resolve(err?.code ?? grpc.status.OK)));
    const round = async () => {
      expect((await tokenOverHttp({ client_id: random(), client_secret: random(), audience: f.api.identifier })).status).toBe(401);
      expect((await tokenOverHttp({ client_id: f.client.clientId, client_secret: f.secret, audience: `https://${random()}.example.com` })).status).toBe(400);
      expect((await tokenOverHttp({ client_id: f.client.clientId, client_secret: f.secret, resource: `urn:${random()}` })).status).toBe(400);
      expect((await fetch(`${t.httpUrl}/${random()}/${random()}`, { method: "POST" })).status).toBe(404);
      expect((await fetch(`${t.httpUrl}/v1/api-servers/${random()}`, { headers: { authorization: `Bearer ${random()}` } })).status).toBe(401);
      const introspected = await fetch(`${t.httpUrl}/oauth/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(f.rs.client.clientId, f.rs.secret) }, body: `token=${random()}` });
      expect(introspected.status).toBe(200);
      const err = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: random(), clientSecret: random() }, audience: random() })));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(await unknownMethod(`/authz.v1.${random()}/${random()}`)).toBe(grpc.status.UNIMPLEMENTED);
    };
    await round(); // each kind of failure once: its series exist now
    await t.server.domain.clients.flushUsage(); // and the background writes' (the usage counters of tokens issued earlier)
    const before = await scrape(ops.url);
    await Promise.all(Array.from({ length: 100 }, round));
    const text = await (await fetch(`${ops.url}/metrics`)).text();
    raw.close();
    const after = await scrape(ops.url);
    // (Process metrics are Node's own bounded sets: a GC kind appears when it first happens.)
    const newSeries = [...after.keys()].filter((k) => k.startsWith("authz_") && !before.has(k));
    expect(newSeries).toEqual([]);
    expect(text).not.toContain(marker);
    // The failures were counted all the same.
    expect(deltas(before, after, ["authz_token_requests_total", "authz_http_refused_total"])).toEqual({
      [series("authz_token_requests_total", { result: "invalid_client" })]: 200,
      [series("authz_token_requests_total", { result: "invalid_target" })]: 200,
      // The random paths: answered by the gateway itself, no call, so counted there.
      [series("authz_http_refused_total", { status: "404" })]: 100,
    });
  });

  test("API server ids beyond metricsApiServerLabels share the value other", async () => {
    const small = await startTestServer({ config: { metricsApiServerLabels: 2 } });
    const smallOps = await startOps(small);
    try {
      const { client, secret } = await createClient(small);
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const api = await createApiServer(small);
        ids.push(api.id);
        await grant(small, client.clientId, api.id, ["orders:read"]);
        await small.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: api.identifier }));
      }
      const m = await scrape(smallOps.url);
      const values = [...m.keys()].filter((k) => k.startsWith("authz_tokens_issued_total{")).sort();
      // The admin's management token took one of the two values first.
      expect(values).toEqual([series("authz_tokens_issued_total", { api_server: MANAGEMENT_API_SERVER_ID }), series("authz_tokens_issued_total", { api_server: ids[0]! }), series("authz_tokens_issued_total", { api_server: "other" })].sort());
      expect(m.get(series("authz_tokens_issued_total", { api_server: "other" }))).toBe(3);
    } finally {
      await smallOps.close();
      await small.cleanup();
    }
  });
});
