import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateClientRequest, TokenEndpointAuthMethod } from "../../gen/authz/v1/client.js";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";
import { RetryInfo } from "../../gen/google/rpc/error_details.js";
import { Status } from "../../gen/google/rpc/status.js";
import type { ManualClock } from "../../src/clock.js";
import type { Config } from "../../src/config.js";
import { basic, createApiServer, createClient, grant } from "../helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "../helpers/server.js";
import { postFrom } from "./helpers.js";

/** Per-client token-endpoint limits, failed-authentication throttling and their bounds (issue 15, item 3). */
const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.cleanup())));

async function server(config: Partial<Config>): Promise<TestServer> {
  // In-process gateway: the per-address limits see each HTTP caller's own address (loopback would show the gateway's).
  const s = await startTestServer({ config: { gatewayUpstream: "in-process", ...config } });
  servers.push(s);
  return s;
}

async function fixture(t: TestServer, metadata: Record<string, string> = {}) {
  const api = await createApiServer(t);
  const { client, secret } = await createClient(t, { metadata });
  await grant(t, client.clientId, api.id, ["orders:read"]);
  return { api, clientId: client.clientId, secret };
}

function token(t: TestServer, f: { api: { identifier: string }; clientId: string; secret: string }, secret = f.secret, from = "127.0.0.1") {
  return postFrom(from, `${t.httpUrl}/oauth/token`, { "content-type": "application/x-www-form-urlencoded", authorization: basic(f.clientId, secret) }, `grant_type=client_credentials&audience=${encodeURIComponent(f.api.identifier)}`);
}

function issueOverGrpc(t: TestServer, f: { api: { identifier: string }; clientId: string; secret: string }) {
  return t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: f.clientId, clientSecret: f.secret }, audience: f.api.identifier }));
}

/** google.rpc.RetryInfo's delay (s) in a gRPC error's status details. */
function retryDelaySeconds(err: grpc.ServiceError): number | undefined {
  const raw = err.metadata.get("grpc-status-details-bin")[0] as Buffer;
  const info = Status.decode(raw).details.find((d) => d.typeUrl === "type.googleapis.com/google.rpc.RetryInfo");
  return info ? Number(RetryInfo.decode(info.value).retryDelay?.seconds) : undefined;
}

describe("per-client token-endpoint limit", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await server({ tokenRatePerSecond: 1, tokenRateBurst: 2 });
  });

  test("a client over its limit gets 429 slow_down with Retry-After over HTTP and RESOURCE_EXHAUSTED with RetryInfo over gRPC, others are unaffected, and it recovers after the wait", async () => {
    const clock = t.clock as ManualClock;
    const busy = await fixture(t);
    const other = await fixture(t);
    expect((await token(t, busy)).status).toBe(200);
    expect((await token(t, busy)).status).toBe(200);
    const refused = await token(t, busy);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.headers["cache-control"]).toBe("no-store");
    expect(refused.json).toEqual({ error: "slow_down", error_description: "too many token requests for this client; retry later" });
    const typed = await rpcError(issueOverGrpc(t, busy));
    expect(typed.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(retryDelaySeconds(typed)).toBe(1);

    // Another client is not held back by the busy one.
    for (let i = 0; i < 2; i++) expect((await token(t, other)).status).toBe(200);

    // Within the wait: still refused; after it: served again.
    clock.advance(0.5);
    expect((await token(t, busy)).status).toBe(429);
    clock.advance(0.5);
    expect((await token(t, busy)).status).toBe(200);
    // One bucket per client, whichever transport or endpoint it comes through.
    expect((await rpcError(issueOverGrpc(t, busy))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  test("a client's metadata sets its own limit (authz.rate_limit_per_second, authz.rate_limit_burst); bad values are refused on write", async () => {
    const clock = t.clock as ManualClock;
    const slow = await fixture(t, { "authz.rate_limit_per_second": "0.5", "authz.rate_limit_burst": "1" });
    expect((await token(t, slow)).status).toBe(200);
    const refused = await token(t, slow);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("2");
    clock.advance(2);
    expect((await token(t, slow)).status).toBe(200);

    const unlimited = await fixture(t, { "authz.rate_limit_per_second": "0" });
    for (let i = 0; i < 10; i++) expect((await token(t, unlimited)).status).toBe(200);

    const bad = await rpcError(
      t.clients.clients.createClient(
        CreateClientRequest.fromPartial({ client: { name: "bad-limit", tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC, metadata: { "authz.rate_limit_per_second": "fast", "authz.rate_limt_burst": "3" } } }),
      ),
    );
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toContain('client.metadata["authz.rate_limit_per_second"]');
  });
});

describe("limits are per replica, scaled by the replica count", () => {
  test("with replicaCount 2 a replica allows half the configured rate and burst", async () => {
    const t = await server({ replicaCount: 2, tokenRatePerSecond: 2, tokenRateBurst: 4 });
    const f = await fixture(t);
    expect((await token(t, f)).status).toBe(200);
    expect((await token(t, f)).status).toBe(200);
    const refused = await token(t, f);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1"); // 1 token/s here
  });
});

describe("failed client authentication is throttled per client id and per source address", () => {
  test("a guessing flood slows the guesser, not the real client: its source is refused unchecked, while the holder of the secret keeps getting tokens", async () => {
    const t = await server({ authFailuresPerMinute: 6, authFailureBurst: 3 }); // one failure per 10 s after 3
    const clock = t.clock as ManualClock;
    const f = await fixture(t);
    const attacker = "127.0.0.1";
    const real = "127.0.0.2";
    for (let i = 0; i < 3; i++) expect((await token(t, f, `guess-${i}`, attacker)).status).toBe(401);
    // The client id's failure budget is spent: the next failure is slow_down, and the source is refused for a while.
    const slowed = await token(t, f, "guess-3", attacker);
    expect(slowed.status).toBe(429);
    expect(slowed.json.error).toBe("slow_down");
    expect(slowed.headers["retry-after"]).toBe("10");
    // From the guesser's address, even the right secret is not looked at now: guessing costs time.
    const unchecked = await token(t, f, f.secret, attacker);
    expect(unchecked.status).toBe(429);
    expect(unchecked.headers["retry-after"]).toBe("10");
    // The real client, elsewhere, is not slowed at all.
    for (let i = 0; i < 5; i++) expect((await token(t, f, f.secret, real)).status).toBe(200);
    // After the wait the guesser may guess once more, then waits again: one guess per 10 s.
    clock.advance(10);
    expect((await token(t, f, "guess-4", attacker)).status).toBe(401);
    expect((await token(t, f, "guess-5", attacker)).status).toBe(429);
    expect((await token(t, f, f.secret, real)).status).toBe(200);
    clock.advance(10);
    expect((await token(t, f, f.secret, attacker)).status).toBe(200); // a success is never counted or delayed
    expect((await token(t, f, f.secret, attacker)).status).toBe(200);
  });

  test("a source failing on many client ids is refused after its burst, over HTTP and gRPC alike", async () => {
    const t = await server({ authFailuresPerMinute: 60, authFailureBurst: 5 });
    const clock = t.clock as ManualClock;
    const f = await fixture(t);
    for (let i = 0; i < 5; i++) expect((await token(t, { ...f, clientId: `cl_guess${i}` }, "x")).status).toBe(401);
    const refused = await token(t, { ...f, clientId: "cl_guess5" }, "x");
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    const typed = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: "cl_guess6", clientSecret: "x" }, audience: f.api.identifier })));
    expect(typed.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(retryDelaySeconds(typed)).toBe(1);
    // Another source is not affected.
    expect((await token(t, f, f.secret, "127.0.0.3")).status).toBe(200);
    clock.advance(1);
    expect((await token(t, f)).status).toBe(200);
  });

  test("through the loopback gateway each HTTP caller is its own source (every call reaches gRPC from 127.0.0.1): a guesser's flood does not stop the real client", async () => {
    const t = await startTestServer({ config: { gatewayUpstream: "loopback", authFailuresPerMinute: 60, authFailureBurst: 5 } });
    servers.push(t);
    const f = await fixture(t);
    for (let i = 0; i < 5; i++) expect((await token(t, { ...f, clientId: `cl_guess${i}` }, "x", "127.0.0.2")).status).toBe(401);
    expect((await token(t, { ...f, clientId: "cl_guess5" }, "x", "127.0.0.2")).status).toBe(429);
    expect((await token(t, f, f.secret, "127.0.0.3")).status).toBe(200);
  });

  test("behind a proxy that adds its own x-forwarded-for line, the caller's line does not choose the source: the last hop of all lines counts", async () => {
    const t = await server({ authFailuresPerMinute: 60, authFailureBurst: 5, clientAddressHeader: "x-forwarded-for" });
    const f = await fixture(t);
    const guess = (i: number) =>
      postFrom("127.0.0.1", `${t.httpUrl}/oauth/token`, { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": [`6.6.${i}.6`, "10.7.7.7"] }, `grant_type=client_credentials&client_id=cl_guess${i}&client_secret=x&audience=${encodeURIComponent(f.api.identifier)}`);
    for (let i = 0; i < 5; i++) expect((await guess(i)).status).toBe(401);
    expect((await guess(5)).status).toBe(429); // 10.7.7.7 is out of budget, whatever the first line said
  });

  test("a flood of random client ids from random addresses keeps the limiters' memory bounded", async () => {
    const t = await server({ authFailuresPerMinute: 60, authFailureBurst: 5, rateLimitMaxEntries: 100, clientAddressHeader: "x-forwarded-for" });
    const f = await fixture(t);
    const statuses = new Map<number, number>();
    await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const source = `10.${(i >> 8) & 255}.${i & 255}.${randomBytes(1)[0]}`;
        const res = await fetch(`${t.httpUrl}/oauth/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": `203.0.113.9, ${source}` },
          body: `grant_type=client_credentials&client_id=cl_${randomBytes(8).toString("hex")}&client_secret=x&audience=${encodeURIComponent(f.api.identifier)}`,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }),
    );
    expect(statuses.get(401)).toBe(300); // distinct ids and sources: none over its budget
    const stats = t.server.guard.stats();
    expect(stats.failureBuckets).toBeLessThanOrEqual(100);
    expect(stats.sourceBuckets).toBeLessThanOrEqual(100);
    expect(stats.tokenBuckets).toBeLessThanOrEqual(100);
  });
});
