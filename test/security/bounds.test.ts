import * as grpc from "@grpc/grpc-js";
import { connect as connectHttp2 } from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateClientRequest } from "../../gen/authz/v1/client.js";
import { SigningAlg } from "../../gen/authz/v1/common.js";
import { RotateKeysRequest } from "../../gen/authz/v1/key.js";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";
import type { ManualClock } from "../../src/clock.js";
import { loadConfig } from "../../src/config.js";
import { rpcError, startTestServer, type TestServer } from "../helpers/server.js";

/** Hostile input cannot exhaust the service: every input is bounded before it costs anything. */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    config: { grpcHandshakeTimeoutMs: 300, grpcMaxConnections: 40, httpHeadersTimeoutMs: 400, httpRequestTimeoutMs: 800, registrationEnabled: true, registrationOpen: true, registrationRatePerMinute: 3, maxPublishedKeysPerAlg: 3, authFailuresPerMinute: 0 }, // failed-auth throttling: test/ops/limits.test.ts
  });
});
afterAll(() => t.cleanup());

const clientCache = () => {
  const { entries, bytes } = t.server.domain.clients.cacheStats();
  return { entries, bytes };
};

describe("identifiers are checked before any lookup; misses are not cached (issue 10, item 7)", () => {
  test("huge or unknown client ids over HTTP and gRPC are invalid_client and leave the client cache as it was", async () => {
    await t.adminToken(); // the admin is cached now
    const before = clientCache();
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${t.httpUrl}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `grant_type=client_credentials&client_id=${i}${"x".repeat(60_000)}&client_secret=x&audience=urn:authz:management`,
      });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_client");
    }
    for (let i = 0; i < 40; i++) {
      const err = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: `cl_unknown${i}`, clientSecret: "x" }, audience: "urn:authz:management" })));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    }
    const huge = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: "y".repeat(1_000_000), clientSecret: "x" }, audience: "urn:authz:management" })));
    expect([grpc.status.UNAUTHENTICATED, grpc.status.RESOURCE_EXHAUSTED]).toContain(huge.code);
    expect(clientCache()).toEqual(before);
  });
});

describe("connections, streams and time are bounded (item 8)", () => {
  test("the gRPC port advertises a stream limit of 100 per connection", async () => {
    const session = connectHttp2(`http://${t.address}`);
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve, reject) => session.once("remoteSettings", resolve).once("error", reject));
    expect(settings.maxConcurrentStreams).toBe(100);
    session.close();
  });

  test("gRPC connections that never send the HTTP/2 preface are closed after the handshake timeout", async () => {
    const [host, port] = t.address.split(":") as [string, string];
    const closed = await Promise.all(
      Array.from({ length: 20 }, () => {
        const socket = connect(Number(port), host);
        socket.on("error", () => {});
        return new Promise<boolean>((resolve) => socket.once("close", () => resolve(true)));
      }),
    );
    expect(closed.every(Boolean)).toBe(true); // each closed by the server (the test would time out otherwise)
    // A real client still works.
    expect((await t.clients.apiServers.getApiServer({ id: "as_management" })).apiServer!.identifier).toBe("urn:authz:management");
  });

  test("an HTTP client sending its headers slowly is cut off after the headers timeout", async () => {
    const url = new URL(t.httpUrl);
    const socket = connect(Number(url.port), url.hostname);
    socket.on("error", () => {});
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
    socket.write("GET /.well-known/jwks.json HTTP/1.1\r\nhost: x\r\n"); // never finished
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe("inputs that grow work are refused (item 9)", () => {
  test("a filter with thousands of terms or over 1 KiB, and one with more than 20 terms, are INVALID_ARGUMENT", async () => {
    const long = Array.from({ length: 2000 }, () => 'name = "x"').join(" AND ");
    const twentyOne = Array.from({ length: 21 }, (_, i) => `name = "${i}"`).join(" AND ");
    for (const filter of [long, twentyOne]) {
      const err = await rpcError(t.clients.apiServers.listApiServers({ pageSize: 1, pageToken: "", filter }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/^filter: must (be at most 1024 characters|have at most 20 terms)/);
    }
    const twenty = Array.from({ length: 20 }, () => 'name = "x"').join(" AND ");
    expect((await t.clients.apiServers.listApiServers({ pageSize: 1, pageToken: "", filter: twenty })).apiServers).toEqual([]);
  });

  test("a JSON Struct nested 1,000 deep is INVALID_ARGUMENT over gRPC and 400 over HTTP, never a 5xx", async () => {
    let deep: Record<string, unknown> = { x: 1 };
    for (let i = 0; i < 1000; i++) deep = { a: deep };
    const grpcErr = await rpcError(t.clients.clients.createClient(CreateClientRequest.fromPartial({ client: { name: "deep", jwks: deep } })));
    expect(grpcErr.code).toBe(grpc.status.INVALID_ARGUMENT);
    const res = await fetch(`${t.httpUrl}/v1/clients`, { method: "POST", headers: { authorization: `Bearer ${await t.adminToken()}`, "content-type": "application/json" }, body: JSON.stringify({ name: "deep", jwks: deep }) });
    expect(res.status).toBe(400);
    expect(((await t.clients.clients.listClients({ pageSize: 500, pageToken: "", filter: 'name = "deep"' })).clients)).toEqual([]);
  });
});

describe("signing keys stay bounded (item 10)", () => {
  test("rotating while a key is pending is FAILED_PRECONDITION; past maxPublishedKeysPerAlg a rotation is refused, naming when room frees up", async () => {
    const rotate = () => t.clients.keys.rotateKeys(RotateKeysRequest.fromPartial({ alg: SigningAlg.SIGNING_ALG_EDDSA }));
    const published = async () => (await t.clients.keys.listKeys({})).keys.filter((k) => k.alg === SigningAlg.SIGNING_ALG_EDDSA).length;
    expect(await published()).toBe(1);
    await rotate();
    expect((await rpcError(rotate())).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await published()).toBe(2);
    (t.clock as ManualClock).advance(t.config.keyPublishLeadSeconds);
    await rotate();
    (t.clock as ManualClock).advance(t.config.keyPublishLeadSeconds);
    const full = await rpcError(rotate());
    expect(full.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(full.details).toMatch(/already has 3 published keys \(at most 3\); the oldest leaves the JWKS at \d{4}-/);
    expect(await published()).toBe(3);
    const jwks = (await (await fetch(`${t.httpUrl}/.well-known/jwks.json`)).json()) as { keys: Array<{ alg: string }> };
    expect(jwks.keys.filter((k) => k.alg === "EdDSA")).toHaveLength(3);
  });
});

describe("registration (item 11)", () => {
  test("without an initial access token it is an explicit opt-in", () => {
    expect(() => loadConfig({ registrationEnabled: true })).toThrow(/registration without an initial access token is open to anyone/);
    expect(loadConfig({ registrationEnabled: true, registrationOpen: true }).registrationOpen).toBe(true);
    expect(loadConfig({ registrationEnabled: true, registrationInitialAccessToken: "t".repeat(32) }).registrationOpen).toBe(false);
  });

  test("is rate-limited: past the quota 429 slow_down with Retry-After, and no client is created", async () => {
    const register = () => fetch(`${t.httpUrl}/oauth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ client_name: "flood" }) });
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await register();
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
      else await res.arrayBuffer();
    }
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await limited!.json()) as { error: string }).error).toBe("slow_down");
    const flood = await t.clients.clients.listClients({ pageSize: 500, pageToken: "", filter: 'name = "flood"' });
    expect(flood.clients).toHaveLength(3);
    // The bucket refills with time (the injected clock).
    (t.clock as ManualClock).advance(20);
    expect((await register()).status).toBe(201);
  });
});
