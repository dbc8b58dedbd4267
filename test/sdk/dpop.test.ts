// DPoP end to end against a real authz (RFC 9449): the token source asks for
// DPoP-bound tokens over HTTP and gRPC (token_type DPoP, cnf.jkt of its key);
// the verifier accepts them only with a matching proof (each failing check has
// its own code and an invalid_dpop_proof challenge); the Express, Fastify and
// grpc-js middleware accept `Authorization: DPoP` + proof and refuse a DPoP
// token sent as Bearer.
import * as grpc from "@grpc/grpc-js";
import express from "express";
import Fastify, { type FastifyInstance } from "fastify";
import { createHash, generateKeyPairSync } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { calculateJwkThumbprint, decodeJwt, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SenderConstraint } from "../../sdk/src/gen/authz/v1/api_server.js";
import {
  createAuthzClients,
  createDpopProof,
  createVerifier,
  generateDpopKey,
  grpcAuth,
  grpcIntrospection,
  grpcServerAuth,
  httpIntrospection,
  TokenSource,
  TokenVerificationError,
  type DpopKey,
  type Verifier,
} from "../../sdk/src/index.js";
import { expressAuth, requireScope as expressScope } from "../../sdk/src/middleware/express.js";
import { fastifyAuth } from "../../sdk/src/middleware/fastify.js";
import { createApiServer, createClient, grant } from "../helpers/oauth.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { grpcOutcome, ManualClock, startKeyService } from "./helpers.js";

let t: TestServer;
let audience: string;
let caller: { clientId: string; secret: string };
let introspector: { clientId: string; secret: string };
let source: TokenSource;
let token: string;
let clock: ManualClock;
let verifier: Verifier;
const RS_URL = "https://orders.example.com/orders";

beforeAll(async () => {
  t = await startTestServer();
  // The API server requires DPoP: a token without a proof is refused at issuance.
  const api = await createApiServer(t, { senderConstraint: SenderConstraint.SENDER_CONSTRAINT_DPOP });
  audience = api.identifier;
  const c = await createClient(t);
  caller = { clientId: c.client.clientId, secret: c.secret };
  await grant(t, caller.clientId, api.id, ["orders:read"]);
  // A resource server's client that may introspect the API server's tokens.
  const rs = await createClient(t);
  introspector = { clientId: rs.client.clientId, secret: rs.secret };
  const management = (await t.clients.apiServers.listApiServers({ filter: 'identifier = "urn:authz:management"', pageSize: 1, pageToken: "" })).apiServers[0]!;
  await grant(t, introspector.clientId, management.id, ["tokens:introspect"]);
  await grant(t, introspector.clientId, api.id, ["orders:read"]);

  source = httpSource({ dpop: true });
  token = await source.token();
  clock = new ManualClock(Date.now());
  verifier = createVerifier({ issuer: t.config.issuer, audience, clock });
});

afterAll(async () => {
  source?.close();
  await verifier?.close();
  await t?.cleanup();
});

function httpSource(extra: Partial<ConstructorParameters<typeof TokenSource>[0]> = {}) {
  return new TokenSource({ issuer: t.config.issuer, clientId: caller.clientId, clientSecret: caller.secret, authMethod: "client_secret_post", audience, ...extra });
}

/** A proof by the source's key for a GET of RS_URL with the token, at the verifier's time. */
function proof(claims: Partial<{ htm: string; htu: string; accessToken: string | undefined; now: () => number }> = {}, key: DpopKey = source.dpopKey!) {
  return createDpopProof(key, { htm: "GET", htu: RS_URL, accessToken: token, now: () => clock.now(), ...claims });
}

async function refusal(promise: Promise<unknown>): Promise<TokenVerificationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenVerificationError);
  return err as TokenVerificationError;
}

describe("the token source gets DPoP-bound tokens from authz", () => {
  it("over HTTP: a DPoP header for the token endpoint, token_type DPoP, cnf.jkt of its key", async () => {
    const seen: Array<{ url: string; dpop: string | null; tokenType?: unknown }> = [];
    const key = await generateDpopKey("EdDSA");
    const ts = httpSource({
      dpop: key,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        seen.push({ url: String(input), dpop: new Headers(init?.headers).get("dpop"), tokenType: ((await res.clone().json()) as { token_type?: unknown }).token_type });
        return res;
      },
    });
    const bound = await ts.token();
    expect(ts.dpopKey).toBe(key);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe(`${t.config.issuer}/oauth/token`);
    expect(seen[0]!.tokenType).toBe("DPoP");
    const sent = decodeJwt(seen[0]!.dpop!);
    expect(sent).toMatchObject({ htm: "POST", htu: `${t.config.issuer}/oauth/token` });
    expect(sent.ath).toBeUndefined(); // no access token yet
    expect(decodeJwt(bound).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.publicJwk) });
    ts.close();
  });

  it("dpop: true generates one ES256 key for the source", async () => {
    expect(source.dpopKey?.alg).toBe("ES256");
    expect(source.dpopKey?.publicJwk).toEqual({ kty: "EC", crv: "P-256", x: expect.any(String), y: expect.any(String) });
    expect(decodeJwt(token).cnf).toEqual({ jkt: await calculateJwkThumbprint(source.dpopKey!.publicJwk) });
  });

  it("over gRPC: the proof goes in the dpop metadata, for <issuer>/oauth/token", async () => {
    const key = await generateDpopKey();
    const ts = new TokenSource({ address: t.address, issuer: t.config.issuer, clientId: caller.clientId, clientSecret: caller.secret, audience, dpop: key });
    const bound = await ts.token();
    expect(decodeJwt(bound).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.publicJwk) });
    ts.close();
  });

  it("without a DPoP key the API server (sender constraint DPOP) refuses to issue", async () => {
    const ts = httpSource();
    await expect(ts.token()).rejects.toMatchObject({ code: "ERR_TOKEN_REQUEST_REFUSED", oauthError: "invalid_dpop_proof" });
    ts.close();
  });

  it("introspection (HTTP and gRPC) reports token_type DPoP and cnf.jkt", async () => {
    const jkt = await calculateJwkThumbprint(source.dpopKey!.publicJwk);
    const http = httpIntrospection({
      endpoint: async () => `${t.config.issuer}/oauth/introspect`,
      clientId: introspector.clientId,
      clientSecret: introspector.secret,
      fetch: (i, init) => fetch(i, init),
    });
    expect(await http.introspect(token, { timeoutMs: 5_000 })).toMatchObject({ active: true, tokenType: "DPoP", cnf: { jkt } });
    const rpc = grpcIntrospection({ address: t.address, clientId: introspector.clientId, clientSecret: introspector.secret });
    expect(await rpc.introspect(token, { timeoutMs: 5_000 })).toMatchObject({ active: true, tokenType: "DPoP", cnf: { jkt } });
    rpc.close?.();
  });
});

describe("the verifier accepts a DPoP-bound token only with a matching proof", () => {
  it("a proof by the token's key for the request, with ath: accepted", async () => {
    const v = await verifier.verify(token, { dpop: { proof: await proof(), htm: "GET", htu: RS_URL } });
    expect(v.clientId).toBe(caller.clientId);
    expect(v.scheme).toBe("DPoP");
    expect(v.confirmation).toEqual({ jkt: await calculateJwkThumbprint(source.dpopKey!.publicJwk) });
  });

  it("authorizationHeaders gives the DPoP scheme and a proof with ath", async () => {
    const headers = await source.authorizationHeaders("get", `${RS_URL}?page=2`);
    expect(headers.authorization).toBe(`DPoP ${token}`);
    const claims = decodeJwt(headers.dpop!);
    expect(claims).toMatchObject({ htm: "GET", htu: RS_URL, ath: createHash("sha256").update(token).digest("base64url") });
    // The query is not part of htu; the verifier normalizes the request URL the same way.
    await verifier.verifyAuthorization(headers.authorization, { method: "GET", url: `${RS_URL}?page=2`, dpop: headers.dpop });
  });

  it("with the verifier's options: the introspection fallback agrees on the binding", async () => {
    const v2 = createVerifier({ issuer: t.config.issuer, audience, clock, introspect: { clientId: introspector.clientId, clientSecret: introspector.secret, mode: "always" } });
    const v = await v2.verify(token, { dpop: { proof: await proof(), htm: "GET", htu: RS_URL } });
    expect(v.introspected).toBe(true);
    await v2.close();
  });

  it("presented as Bearer (no DPoP presentation): ERR_TOKEN_DPOP_REQUIRED, challenged with DPoP", async () => {
    const err = await refusal(verifier.verify(token));
    expect([err.code, err.error, err.scheme, err.status]).toEqual(["ERR_TOKEN_DPOP_REQUIRED", "invalid_token", "DPoP", 401]);
    expect((await refusal(verifier.verifyAuthorization(`Bearer ${token}`, { method: "GET", url: RS_URL, dpop: await proof() }))).code).toBe("ERR_TOKEN_DPOP_REQUIRED");
  });

  it("without a proof: ERR_DPOP_PROOF_MISSING (invalid_dpop_proof)", async () => {
    const err = await refusal(verifier.verify(token, { dpop: { proof: undefined, htm: "GET", htu: RS_URL } }));
    expect([err.code, err.error, err.scheme]).toEqual(["ERR_DPOP_PROOF_MISSING", "invalid_dpop_proof", "DPoP"]);
    expect((await refusal(verifier.verifyAuthorization(`DPoP ${token}`, { method: "GET", url: RS_URL }))).code).toBe("ERR_DPOP_PROOF_MISSING");
  });

  it("a proof by another key: ERR_DPOP_PROOF_KEY", async () => {
    const other = await generateDpopKey();
    expect((await refusal(verifier.verify(token, { dpop: { proof: await proof({}, other), htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_KEY");
  });

  it("wrong htm or htu: ERR_DPOP_PROOF_MISMATCH", async () => {
    const post = await proof({ htm: "POST" });
    expect((await refusal(verifier.verify(token, { dpop: { proof: post, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_MISMATCH");
    const elsewhere = await proof({ htu: "https://orders.example.com/invoices" });
    expect((await refusal(verifier.verify(token, { dpop: { proof: elsewhere, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_MISMATCH");
    const otherHost = await proof({ htu: "https://billing.example.com/orders" });
    expect((await refusal(verifier.verify(token, { dpop: { proof: otherHost, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_MISMATCH");
    // Normalization (RFC 3986 §6.2.2–3): case of scheme/host, default port, percent-encoding of unreserved characters.
    await verifier.verify(token, { dpop: { proof: await proof({ htu: "HTTPS://Orders.Example.com:443/%6Frders" }), htm: "GET", htu: RS_URL } });
  });

  it("iat outside the window (default 60 s, either way): ERR_DPOP_PROOF_IAT", async () => {
    const stale = await proof({ now: () => clock.now() - 61_000 });
    expect((await refusal(verifier.verify(token, { dpop: { proof: stale, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_IAT");
    const future = await proof({ now: () => clock.now() + 61_000 });
    expect((await refusal(verifier.verify(token, { dpop: { proof: future, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_IAT");
    await verifier.verify(token, { dpop: { proof: await proof({ now: () => clock.now() - 59_000 }), htm: "GET", htu: RS_URL } });
    // The window is an option.
    const tight = createVerifier({ issuer: t.config.issuer, audience, clock, dpop: { proofWindowSeconds: 5 } });
    const tenSecondsOld = await proof({ now: () => clock.now() - 10_000 });
    expect((await refusal(tight.verify(token, { dpop: { proof: tenSecondsOld, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_IAT");
    await tight.close();
  });

  it("a replayed proof (same jti): ERR_DPOP_PROOF_REPLAYED", async () => {
    const once = await proof();
    await verifier.verify(token, { dpop: { proof: once, htm: "GET", htu: RS_URL } });
    const err = await refusal(verifier.verify(token, { dpop: { proof: once, htm: "GET", htu: RS_URL } }));
    expect([err.code, err.error]).toEqual(["ERR_DPOP_PROOF_REPLAYED", "invalid_dpop_proof"]);
    // Once the window has passed, the same proof is stale rather than replayed.
    clock.advance(61_000);
    expect((await refusal(verifier.verify(token, { dpop: { proof: once, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_IAT");
    clock.advance(-61_000);
  });

  it("ath missing or for another token: ERR_DPOP_PROOF_ATH", async () => {
    const noAth = await proof({ accessToken: undefined });
    expect((await refusal(verifier.verify(token, { dpop: { proof: noAth, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_ATH");
    const otherToken = await proof({ accessToken: `${token}x` });
    expect((await refusal(verifier.verify(token, { dpop: { proof: otherToken, htm: "GET", htu: RS_URL } }))).code).toBe("ERR_DPOP_PROOF_ATH");
  });

  it("not a proper proof (typ, alg, private jwk, signature, several proofs): ERR_DPOP_PROOF_INVALID", async () => {
    const key = source.dpopKey!;
    const base = { jti: `j-${Math.random()}`, htm: "GET", htu: RS_URL, ath: createHash("sha256").update(token).digest("base64url") };
    const craft = (header: Record<string, unknown>, payload: Record<string, unknown> = {}, signer = key.privateKey) =>
      new SignJWT({ ...base, jti: `j-${Math.random()}`, ...payload })
        .setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk, ...header } as { alg: string })
        .setIssuedAt(Math.floor(clock.now() / 1000))
        .sign(signer);
    const { privateKey: otherPrivate } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const privateJwk = { ...(otherPrivate.export({ format: "jwk" }) as Record<string, unknown>) };
    const cases: Record<string, string> = {
      typ: await craft({ typ: "JWT" }),
      "symmetric alg": await craft({ alg: "HS256" }, {}, new Uint8Array(32) as never),
      "no jwk": await craft({ jwk: undefined }),
      "private jwk": await craft({ jwk: privateJwk }, {}, otherPrivate),
      "signature by another key than jwk": await craft({}, {}, otherPrivate),
      "no jti": await craft({}, { jti: undefined }),
      "not a JWT": "not-a-proof",
      "two proofs": `${await proof()}, ${await proof()}`,
    };
    for (const [what, bad] of Object.entries(cases)) {
      const err = await refusal(verifier.verify(token, { dpop: { proof: bad, htm: "GET", htu: RS_URL } }));
      expect(err.code, what).toBe("ERR_DPOP_PROOF_INVALID");
      expect(err.message, what).not.toContain(bad.slice(0, 20));
      expect(err.message, what).not.toContain(token.slice(0, 20));
    }
    expect((await refusal(verifier.verifyAuthorization(`DPoP ${token}`, { method: "GET", url: RS_URL, dpop: [await proof(), await proof()] }))).code).toBe(
      "ERR_DPOP_PROOF_INVALID",
    );
  });

  it("a bearer token presented with the DPoP scheme: ERR_TOKEN_NOT_DPOP_BOUND, challenged as Bearer", async () => {
    // An API server without a sender constraint issues a bearer token to a source without a key.
    const api = await createApiServer(t);
    await grant(t, caller.clientId, api.id, ["orders:read"]);
    const plain = httpSource({ audience: api.identifier });
    const bearer = await plain.token();
    const v = createVerifier({ issuer: t.config.issuer, audience: api.identifier, clock });
    expect((await v.verify(bearer)).scheme).toBe("Bearer");
    const key = await generateDpopKey();
    const p = await createDpopProof(key, { htm: "GET", htu: RS_URL, accessToken: bearer, now: () => clock.now() });
    const err = await refusal(v.verifyAuthorization(`DPoP ${bearer}`, { method: "GET", url: RS_URL, dpop: p }));
    expect([err.code, err.scheme]).toEqual(["ERR_TOKEN_NOT_DPOP_BOUND", "Bearer"]);
    plain.close();
    await v.close();
  });
});

describe("middleware", () => {
  describe("Express", () => {
    let server: Server;
    let proxied: Server;
    let base: string;
    let proxiedBase: string;
    beforeAll(async () => {
      const app = express();
      app.use(expressAuth(verifier));
      app.get("/orders", expressScope("orders:read"), (req, res) => void res.json({ client: req.auth?.clientId, scheme: req.auth?.scheme }));
      server = app.listen(0, "127.0.0.1");
      await new Promise((r) => server.once("listening", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // Behind a proxy: the client addresses https://api.example.com/v2/..., the app sees /orders.
      const behind = express();
      behind.use(expressAuth(verifier, { baseUrl: "https://api.example.com/v2" }));
      behind.get("/orders", (req, res) => void res.json({ scheme: req.auth?.scheme }));
      proxied = behind.listen(0, "127.0.0.1");
      await new Promise((r) => proxied.once("listening", r));
      proxiedBase = `http://127.0.0.1:${(proxied.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => proxied.close(() => r()));
    });

    it("TokenSource.fetch sends Authorization: DPoP and a proof for the request: 200", async () => {
      const res = await source.fetch(`${base}/orders?limit=5`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ client: caller.clientId, scheme: "DPoP" });
    });

    it("the DPoP token sent as Bearer: 401, WWW-Authenticate DPoP error=invalid_token with algs", async () => {
      const res = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^DPoP error="invalid_token", error_description="[^"]+", algs="ES256 EdDSA RS256 PS256"$/);
      expect(await res.json()).toMatchObject({ error: "invalid_token", code: "ERR_TOKEN_DPOP_REQUIRED" });
    });

    it("Authorization: DPoP without a DPoP header, or a proof for another URL: 401 invalid_dpop_proof", async () => {
      const none = await fetch(`${base}/orders`, { headers: { authorization: `DPoP ${token}` } });
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toMatch(/^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="[^"]+"$/);
      expect(await none.json()).toMatchObject({ code: "ERR_DPOP_PROOF_MISSING" });
      const elsewhere = await fetch(`${base}/orders`, { headers: await source.authorizationHeaders("GET", "https://orders.example.com/orders") });
      expect(elsewhere.status).toBe(401);
      expect(await elsewhere.json()).toMatchObject({ error: "invalid_dpop_proof", code: "ERR_DPOP_PROOF_MISMATCH" });
      const wrongMethod = await fetch(`${base}/orders`, { headers: await source.authorizationHeaders("POST", `${base}/orders`) });
      expect(await wrongMethod.json()).toMatchObject({ code: "ERR_DPOP_PROOF_MISMATCH" });
    });

    it("the same headers twice: the second request is refused as a replay", async () => {
      const headers = await source.authorizationHeaders("GET", `${base}/orders`);
      expect((await fetch(`${base}/orders`, { headers })).status).toBe(200);
      const again = await fetch(`${base}/orders`, { headers });
      expect(again.status).toBe(401);
      expect(await again.json()).toMatchObject({ code: "ERR_DPOP_PROOF_REPLAYED" });
    });

    it("behind a proxy, htu is checked against baseUrl + the request path", async () => {
      const external = await fetch(`${proxiedBase}/orders?x=1`, { headers: await source.authorizationHeaders("GET", "https://api.example.com/v2/orders?x=1") });
      expect(external.status).toBe(200);
      const local = await fetch(`${proxiedBase}/orders`, { headers: await source.authorizationHeaders("GET", `${proxiedBase}/orders`) });
      expect(local.status).toBe(401);
    });
  });

  describe("Fastify", () => {
    let app: FastifyInstance;
    let base: string;
    beforeAll(async () => {
      app = Fastify();
      app.get("/orders", { onRequest: [fastifyAuth(verifier)] }, async (req) => ({ scheme: req.auth?.scheme }));
      base = await app.listen({ port: 0, host: "127.0.0.1" });
    });
    afterAll(() => app.close());

    it("DPoP with a proof: 200; the DPoP token as Bearer: 401 with a DPoP challenge", async () => {
      const ok = await source.fetch(`${base}/orders`);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ scheme: "DPoP" });
      const bearer = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(bearer.status).toBe(401);
      expect(bearer.headers.get("www-authenticate")).toMatch(/^DPoP error="invalid_token"/);
      expect(await bearer.json()).toMatchObject({ code: "ERR_TOKEN_DPOP_REQUIRED" });
    });
  });

  describe("grpc-js", () => {
    let server: grpc.Server;
    let address: string;
    const seen: Array<string | undefined> = [];
    beforeAll(async () => {
      ({ server, address } = await startKeyService(grpcServerAuth(verifier, { scopes: { "/authz.v1.KeyService/ListKeys": ["orders:read"] } }), (call) => seen.push(grpcAuth(call)?.scheme)));
    });
    afterAll(() => new Promise<void>((r) => server.tryShutdown(() => r())));

    async function call(interceptor: grpc.Interceptor) {
      const clients = createAuthzClients({ address, interceptors: [interceptor] });
      try {
        return await grpcOutcome(() => clients.keys.listKeys({}));
      } finally {
        clients.close();
      }
    }

    it("the source's interceptor sends authorization: DPoP and a dpop proof for POST <baseUrl><path>", async () => {
      expect(await call(source.grpcInterceptor(undefined, { baseUrl: `http://${address}` }))).toEqual({ code: grpc.status.OK, challenge: undefined });
      expect(seen.at(-1)).toBe("DPoP");
    });

    it("a proof for another URL, or the DPoP token as Bearer: UNAUTHENTICATED with a DPoP challenge", async () => {
      const wrong = await call(source.grpcInterceptor(undefined, { baseUrl: "http://elsewhere.example" }));
      expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(wrong.challenge).toMatch(/^DPoP error="invalid_dpop_proof"/);
      const asBearer: grpc.Interceptor = (options, next) =>
        new grpc.InterceptingCall(next(options), {
          start(metadata, listener, go) {
            metadata.set("authorization", `Bearer ${token}`);
            go(metadata, listener);
          },
        });
      const bearer = await call(asBearer);
      expect(bearer.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(bearer.challenge).toMatch(/^DPoP error="invalid_token"/);
    });
  });
});

describe("keys in proofs", () => {
  it("a proof's jwk is the source's public key only", async () => {
    const p = await source.proofFor({ htm: "GET", htu: RS_URL });
    const header = JSON.parse(Buffer.from(p.split(".")[0]!, "base64url").toString()) as { jwk: Record<string, unknown> };
    expect(header.jwk.d).toBeUndefined();
    expect(header.jwk).toEqual(source.dpopKey!.publicJwk);
  });
});

describe("a server that requires DPoP nonces (RFC 9449 §8, AUTHZ_DPOP_NONCE=true)", () => {
  it("the token source retries once with the server's nonce, over HTTP and over gRPC, and puts it in later proofs", async () => {
    const n = await startTestServer({ config: { dpopNonce: true } });
    try {
      const api = await createApiServer(n);
      const c = await createClient(n);
      await grant(n, c.client.clientId, api.id, ["orders:read"]);
      const seen: Array<{ status: number; nonce: string | undefined }> = [];
      const observed: typeof fetch = async (input, init) => {
        const res = await fetch(input, init);
        const proofHeader = new Headers(init?.headers).get("dpop");
        seen.push({ status: res.status, nonce: proofHeader ? (decodeJwt(proofHeader).nonce as string | undefined) : undefined });
        return res;
      };
      const overHttp = new TokenSource({ issuer: n.config.issuer, clientId: c.client.clientId, clientSecret: c.secret, audience: api.identifier, dpop: true, fetch: observed });
      const overGrpc = new TokenSource({ address: n.address, issuer: n.config.issuer, clientId: c.client.clientId, clientSecret: c.secret, audience: api.identifier, dpop: true });
      try {
        expect(decodeJwt(await overHttp.token()).cnf).toEqual({ jkt: await calculateJwkThumbprint(overHttp.dpopKey!.publicJwk) });
        expect(seen.map((s) => s.status)).toEqual([400, 200]); // use_dpop_nonce, then the retry with it
        expect(seen[0]!.nonce).toBeUndefined();
        expect(seen[1]!.nonce).toEqual(expect.any(String));
        expect(decodeJwt(await overGrpc.token()).cnf).toEqual({ jkt: await calculateJwkThumbprint(overGrpc.dpopKey!.publicJwk) });
      } finally {
        overHttp.close();
        overGrpc.close();
      }
    } finally {
      await n.cleanup();
    }
  });
});
