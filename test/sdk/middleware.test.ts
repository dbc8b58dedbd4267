// Middleware with real Express and Fastify apps on ephemeral ports, and the
// grpc-js server interceptor: right scope passes, missing scope is 403 /
// PERMISSION_DENIED with insufficient_scope, no token is 401 / UNAUTHENTICATED,
// watch down (closed) is 503 / UNAVAILABLE.
import * as grpc from "@grpc/grpc-js";
import express from "express";
import Fastify, { type FastifyInstance } from "fastify";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyServiceService, ListKeysResponse } from "../../sdk/src/gen/authz/v1/key.js";
import { createAuthzClients, createVerifier, grpcAuth, grpcServerAuth, RevocationWatch, type Verifier } from "../../sdk/src/index.js";
import { expressAuth, requireScope as expressScope } from "../../sdk/src/middleware/express.js";
import { authzFastifyPlugin, fastifyAuth, requireScope as fastifyScope } from "../../sdk/src/middleware/fastify.js";
import { AUDIENCE, claimsAt, FakeAuthServer, grpcOutcome, ISSUER, makeKey, ManualClock, sign, silentWatchTransport, startKeyService, type TestKey } from "./helpers.js";

let key: TestKey;
let verifier: Verifier;
let clock: ManualClock;
let readToken: string;
let writeOnlyToken: string;
let expiredToken: string;

beforeAll(async () => {
  key = await makeKey("ES256");
  clock = new ManualClock(Date.now());
  verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: new FakeAuthServer(key).fetch, clock });
  readToken = await sign(key, claimsAt(clock.now(), { scope: "orders:read" }));
  writeOnlyToken = await sign(key, claimsAt(clock.now(), { scope: "orders:write" }));
  expiredToken = await sign(key, claimsAt(clock.now() - 7200_000));
});

async function get(url: string, token?: string) {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, challenge: res.headers.get("www-authenticate"), body: (await res.json()) as Record<string, unknown> };
}

function expectRfc6750(r: Awaited<ReturnType<typeof get>>, kind: "ok" | "missing" | "invalid" | "scope") {
  switch (kind) {
    case "ok":
      expect(r.status).toBe(200);
      break;
    case "missing":
      expect(r.status).toBe(401);
      expect(r.challenge).toBe("Bearer"); // RFC 6750 §3.1: no error code without a token
      expect(r.body.code).toBe("ERR_TOKEN_MISSING");
      break;
    case "invalid":
      expect(r.status).toBe(401);
      expect(r.challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/);
      expect(r.body).toMatchObject({ error: "invalid_token", code: "ERR_TOKEN_EXPIRED" });
      break;
    case "scope":
      expect(r.status).toBe(403);
      expect(r.challenge).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]+", scope="orders:read"$/);
      expect(r.body).toMatchObject({ error: "insufficient_scope", code: "ERR_INSUFFICIENT_SCOPE" });
      break;
  }
}

describe("Express", () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const app = express();
    app.get("/health", (_req, res) => void res.json({ ok: true }));
    app.use(expressAuth(verifier));
    app.get("/orders", expressScope("orders:read"), (req, res) => void res.json({ client: req.auth?.clientId, scopes: req.auth?.scopes }));
    server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("passes with the right scope and exposes req.auth", async () => {
    const r = await get(`${base}/orders`, readToken);
    expectRfc6750(r, "ok");
    expect(r.body).toEqual({ client: "cl_caller", scopes: ["orders:read"] });
  });
  it("403 insufficient_scope without it", async () => expectRfc6750(await get(`${base}/orders`, writeOnlyToken), "scope"));
  it("401 without a token", async () => expectRfc6750(await get(`${base}/orders`), "missing"));
  it("401 invalid_token for an expired token", async () => expectRfc6750(await get(`${base}/orders`, expiredToken), "invalid"));
  it("routes before the middleware stay open", async () => expect((await get(`${base}/health`)).status).toBe(200));
});

describe("Fastify", () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    app = Fastify();
    // Per-route hooks ...
    app.get("/orders", { onRequest: [fastifyAuth(verifier), fastifyScope("orders:read")] }, async (req) => ({
      client: req.auth?.clientId,
      scopes: req.auth?.scopes,
    }));
    // ... or the plugin for every route of a scope.
    await app.register(async (scoped) => {
      await scoped.register(authzFastifyPlugin, { verifier });
      scoped.get("/scoped/orders", { preHandler: fastifyScope("orders:read") }, async (req) => ({ client: req.auth?.clientId }));
    });
    app.get("/health", async () => ({ ok: true }));
    base = await app.listen({ port: 0, host: "127.0.0.1" });
  });
  afterAll(() => app.close());

  for (const path of ["/orders", "/scoped/orders"]) {
    it(`${path}: passes with the right scope`, async () => {
      const r = await get(`${base}${path}`, readToken);
      expectRfc6750(r, "ok");
      expect(r.body.client).toBe("cl_caller");
    });
    it(`${path}: 403 insufficient_scope without it`, async () => expectRfc6750(await get(`${base}${path}`, writeOnlyToken), "scope"));
    it(`${path}: 401 without a token`, async () => expectRfc6750(await get(`${base}${path}`), "missing"));
    it(`${path}: 401 invalid_token for an expired token`, async () => expectRfc6750(await get(`${base}${path}`, expiredToken), "invalid"));
  }
  it("the plugin's scope does not leak to sibling routes", async () => expect((await get(`${base}/health`)).status).toBe(200));
});

describe("503 when the watch is down and failing closed", () => {
  it("Express answers 503 with Retry-After and no challenge", async () => {
    const c = new ManualClock(clock.now());
    const watch = new RevocationWatch({ transport: silentWatchTransport, token: async () => "t", failMode: "closed", maxStaleSeconds: 1, clock: c });
    const down = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: new FakeAuthServer(key).fetch, clock: c, watch });
    c.advance(2_000);
    const app = express();
    app.get("/orders", expressAuth(down), expressScope("orders:read"), (_req, res) => void res.json({}));
    const server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`, { headers: { authorization: `Bearer ${readToken}` } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(await res.json()).toMatchObject({ error: "temporarily_unavailable", code: "ERR_REVOCATION_WATCH_DOWN" });
    await new Promise<void>((r) => server.close(() => r()));
    await watch.stop();
  });
});

describe("grpc-js server interceptor", () => {
  let server: grpc.Server;
  let address: string;
  const seenClients: Array<string | undefined> = [];

  beforeAll(async () => {
    ({ server, address } = await startKeyService(
      grpcServerAuth(verifier, {
        scopes: { "/authz.v1.KeyService/ListKeys": ["orders:read"], "/authz.v1.KeyService/RotateKeys": ["orders:admin"] },
      }),
      (call) => seenClients.push(grpcAuth(call)?.clientId),
    ));
  });
  afterAll(() => new Promise<void>((r) => server.tryShutdown(() => r())));

  async function call(method: "listKeys" | "rotateKeys", token?: string) {
    const authz = createAuthzClients({ address, token: token ? async () => token : undefined });
    try {
      return await grpcOutcome(() => authz.keys[method]({}));
    } finally {
      authz.close();
    }
  }

  it("passes with the right scope; the handler sees the verified token", async () => {
    expect((await call("listKeys", readToken)).code).toBe(grpc.status.OK);
    expect(seenClients.at(-1)).toBe("cl_caller");
  });
  it("PERMISSION_DENIED with insufficient_scope in trailing metadata", async () => {
    const r = await call("listKeys", writeOnlyToken);
    expect(r.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.challenge).toMatch(/^Bearer error="insufficient_scope", .*scope="orders:read"$/);
  });
  it("UNAUTHENTICATED without a token, and with an expired one", async () => {
    expect(await call("listKeys")).toEqual({ code: grpc.status.UNAUTHENTICATED, challenge: "Bearer" });
    const r = await call("listKeys", expiredToken);
    expect(r.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(r.challenge).toMatch(/^Bearer error="invalid_token"/);
  });
  it("methods without a rule are denied", async () => {
    const unlisted = new grpc.Server({ interceptors: [grpcServerAuth(verifier, { scopes: {} })] });
    unlisted.addService(KeyServiceService, {
      listKeys: (_c: unknown, cb: grpc.sendUnaryData<ListKeysResponse>) => cb(null, ListKeysResponse.fromPartial({})),
      rotateKeys: () => {},
    });
    const port = await new Promise<number>((resolve, reject) =>
      unlisted.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const authz = createAuthzClients({ address: `127.0.0.1:${port}`, token: async () => readToken });
    await expect(authz.keys.listKeys({})).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    authz.close();
    await new Promise<void>((r) => unlisted.tryShutdown(() => r()));
  });
});
