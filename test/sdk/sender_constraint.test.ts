// Sender-constrained tokens without a live authz: certificate-bound tokens
// (RFC 8705 §3, cnf.x5t#S256) signed by a fake issuer and checked against the
// presented certificate, directly and through Express over HTTPS and grpc-js
// over TLS; the DPoP replay cache's bounds; DPoP challenges; the token
// source's DPoP rules with scripted transports.
import * as grpc from "@grpc/grpc-js";
import express from "express";
import { X509Certificate } from "node:crypto";
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyServiceService, ListKeysResponse, RotateKeysResponse } from "../../sdk/src/gen/authz/v1/key.js";
import {
  certificateThumbprint,
  createAuthzClients,
  createDpopProof,
  createVerifier,
  generateDpopKey,
  grpcServerAuth,
  InvalidOptionsError,
  MemoryDpopReplayCache,
  refusal,
  requireScopes,
  TokenSource,
  TokenSourceError,
  TokenVerificationError,
  wwwAuthenticate,
  type DpopReplayStore,
  type TokenRequest,
  type TokenResponse,
  type TokenTransport,
  type Verifier,
} from "../../sdk/src/index.js";
import { expressAuth } from "../../sdk/src/middleware/express.js";
import { createPki, type Pki, type TestCert } from "../helpers/pki.js";
import { AUDIENCE, claimsAt, FakeAuthServer, ISSUER, makeKey, ManualClock, sign, type TestKey } from "./helpers.js";

let pki: Pki;
let key: TestKey;
let clock: ManualClock;
let verifier: Verifier;
let worker: TestCert;
let other: TestCert;
let boundToken: string;

beforeAll(async () => {
  pki = createPki();
  worker = pki.issueClient({ cn: "orders-worker" });
  other = pki.issueClient({ cn: "billing-worker" });
  key = await makeKey("ES256");
  clock = new ManualClock(Date.now());
  verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: new FakeAuthServer(key).fetch, clock });
  boundToken = await sign(key, claimsAt(clock.now(), { scope: "orders:read", cnf: { "x5t#S256": certificateThumbprint(worker.der) } }));
});
afterAll(() => pki?.cleanup());

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenVerificationError);
  return (err as TokenVerificationError).code;
}

describe("certificate-bound tokens (RFC 8705 §3)", () => {
  it("x5t#S256 is base64url SHA-256 of the DER, whatever form the certificate comes in", () => {
    const x509 = new X509Certificate(worker.cert);
    expect(certificateThumbprint(x509)).toBe(certificateThumbprint(worker.der));
    expect(certificateThumbprint(new Uint8Array(worker.der))).toBe(certificateThumbprint(worker.der));
    expect(certificateThumbprint(worker.der)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("the certificate it is bound to (DER or X509Certificate): accepted", async () => {
    const v = await verifier.verify(boundToken, { certificate: worker.der });
    expect(v.confirmation).toEqual({ "x5t#S256": certificateThumbprint(worker.der) });
    expect(v.scheme).toBe("Bearer");
    await verifier.verify(boundToken, { certificate: new X509Certificate(worker.cert) });
    await verifier.verifyAuthorization(`Bearer ${boundToken}`, { certificate: worker.der });
  });

  it("another certificate: ERR_TOKEN_CERTIFICATE_MISMATCH; none: ERR_TOKEN_CERTIFICATE_MISSING (401 invalid_token)", async () => {
    expect(await codeOf(verifier.verify(boundToken, { certificate: other.der }))).toBe("ERR_TOKEN_CERTIFICATE_MISMATCH");
    expect(await codeOf(verifier.verify(boundToken, { certificate: pki.selfSigned("orders-worker").der }))).toBe("ERR_TOKEN_CERTIFICATE_MISMATCH");
    const err = (await verifier.verify(boundToken).catch((e: unknown) => e)) as TokenVerificationError;
    expect([err.code, err.status, err.error, err.scheme]).toEqual(["ERR_TOKEN_CERTIFICATE_MISSING", 401, "invalid_token", "Bearer"]);
    expect(err.message).not.toContain(boundToken.slice(0, 20));
  });

  it("a token bound to both a certificate and a DPoP key needs both", async () => {
    const dpopKey = await generateDpopKey();
    const both = await sign(key, claimsAt(clock.now(), { cnf: { "x5t#S256": certificateThumbprint(worker.der), jkt: await calculateJwkThumbprint(dpopKey.publicJwk) } }));
    const htu = "https://orders.test/orders";
    const proof = () => createDpopProof(dpopKey, { htm: "GET", htu, accessToken: both, now: () => clock.now() });
    expect(await codeOf(verifier.verify(both, { certificate: worker.der }))).toBe("ERR_TOKEN_DPOP_REQUIRED");
    expect(await codeOf(verifier.verify(both, { dpop: { proof: await proof(), htm: "GET", htu } }))).toBe("ERR_TOKEN_CERTIFICATE_MISSING");
    const v = await verifier.verify(both, { certificate: worker.der, dpop: { proof: await proof(), htm: "GET", htu } });
    expect(v.scheme).toBe("DPoP");
  });

  it("a malformed cnf, or one with a confirmation method the SDK cannot check, is refused (ERR_TOKEN_CONFIRMATION)", async () => {
    for (const cnf of ["x", {}, { "x5t#S256": 7 }, { jwk: { kty: "EC" } }, { "x5t#S256": certificateThumbprint(worker.der), kid: "k" }]) {
      const t = await sign(key, claimsAt(clock.now(), { cnf: cnf as never }));
      expect(await codeOf(verifier.verify(t, { certificate: worker.der })), JSON.stringify(cnf)).toBe("ERR_TOKEN_CONFIRMATION");
    }
  });

  describe("Express over HTTPS: the socket's peer certificate", () => {
    let server: HttpsServer;
    let port: number;
    beforeAll(async () => {
      const app = express();
      app.use(expressAuth(verifier));
      app.get("/orders", (req, res) => void res.json({ client: req.auth?.clientId }));
      // Certificates are requested, not required to chain: the binding is to the exact certificate.
      server = createHttpsServer({ key: pki.server.key, cert: pki.server.cert, requestCert: true, rejectUnauthorized: false }, app);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    function get(cert?: TestCert): Promise<{ status: number; body: Record<string, unknown> }> {
      return new Promise((resolve, reject) => {
        const req = httpsRequest(
          {
            host: "127.0.0.1",
            port,
            path: "/orders",
            ca: pki.ca.cert,
            servername: "localhost",
            agent: false,
            headers: { authorization: `Bearer ${boundToken}` },
            ...(cert ? { cert: cert.cert, key: cert.key } : {}),
          },
          (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    }

    it("with the bound certificate: 200; another: 401 mismatch; none: 401 missing", async () => {
      expect(await get(worker)).toEqual({ status: 200, body: { client: "cl_caller" } });
      expect(await get(other)).toMatchObject({ status: 401, body: { error: "invalid_token", code: "ERR_TOKEN_CERTIFICATE_MISMATCH" } });
      expect(await get()).toMatchObject({ status: 401, body: { error: "invalid_token", code: "ERR_TOKEN_CERTIFICATE_MISSING" } });
    });
  });

  describe("grpc-js over TLS: the call's auth context", () => {
    let server: grpc.Server;
    let address: string;
    beforeAll(async () => {
      server = new grpc.Server({ interceptors: [grpcServerAuth(verifier, { scopes: { "/authz.v1.KeyService/ListKeys": ["orders:read"] } })] });
      server.addService(KeyServiceService, {
        listKeys: (_c: unknown, cb: grpc.sendUnaryData<ListKeysResponse>) => cb(null, ListKeysResponse.fromPartial({})),
        rotateKeys: (_c: unknown, cb: grpc.sendUnaryData<RotateKeysResponse>) => cb(null, RotateKeysResponse.fromPartial({})),
      });
      const credentials = grpc.ServerCredentials.createSsl(Buffer.from(pki.ca.cert), [{ private_key: Buffer.from(pki.server.key), cert_chain: Buffer.from(pki.server.cert) }], true);
      const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", credentials, (e, p) => (e ? reject(e) : resolve(p))));
      address = `127.0.0.1:${port}`;
    });
    afterAll(() => new Promise<void>((r) => server.tryShutdown(() => r())));

    async function call(cert: TestCert, token = boundToken): Promise<grpc.status> {
      const credentials = grpc.credentials.createSsl(Buffer.from(pki.ca.cert), Buffer.from(cert.key), Buffer.from(cert.cert));
      const clients = createAuthzClients({ address, credentials, channelOptions: { "grpc.ssl_target_name_override": "localhost" }, token: async () => token });
      try {
        await clients.keys.listKeys({});
        return grpc.status.OK;
      } catch (err) {
        return (err as grpc.ServiceError).code;
      } finally {
        clients.close();
      }
    }

    // grpc-js exposes the peer certificate only when the TLS layer verified it (client CA configured).
    it("with the bound certificate: OK; another one from the CA: UNAUTHENTICATED", async () => {
      expect(await call(worker)).toBe(grpc.status.OK);
      expect(await call(other)).toBe(grpc.status.UNAUTHENTICATED);
      // An unbound token over the same connection is unaffected by the certificate.
      expect(await call(other, await sign(key, claimsAt(clock.now(), { scope: "orders:read" })))).toBe(grpc.status.OK);
    });
  });
});

describe("the DPoP replay cache", () => {
  it("single use within the expiry; expired entries are dropped", () => {
    const cache = new MemoryDpopReplayCache();
    expect(cache.consume("a", 1_000, 0)).toBe(true);
    expect(cache.consume("a", 1_000, 999)).toBe(false);
    expect(cache.consume("a", 3_000, 1_000)).toBe(true); // expired: a new use
    expect(cache.consume("b", 5_000, 2_000)).toBe(true);
    expect(cache.consume("c", 6_000, 4_000)).toBe(true); // "a" (until 3 000) is purged on the way
    expect(cache.size.entries).toBe(2);
  });

  it("bounded in entries: the oldest is evicted", () => {
    const cache = new MemoryDpopReplayCache({ maxEntries: 3 });
    for (const k of ["k1", "k2", "k3", "k4"]) expect(cache.consume(k, 60_000, 0)).toBe(true);
    expect(cache.size.entries).toBe(3);
    expect(cache.consume("k4", 60_000, 1)).toBe(false);
    expect(cache.consume("k2", 60_000, 1)).toBe(false);
    expect(cache.consume("k1", 60_000, 1)).toBe(true); // evicted first
  });

  it("bounded in bytes", () => {
    const cache = new MemoryDpopReplayCache({ maxBytes: 1_000 });
    for (let i = 0; i < 100; i++) cache.consume(`${"x".repeat(100)}${i}`, 60_000, 0);
    expect(cache.size.bytes).toBeLessThanOrEqual(1_000);
    expect(cache.size.entries).toBeGreaterThan(0);
    expect(() => new MemoryDpopReplayCache({ maxEntries: 0 })).toThrow(InvalidOptionsError);
  });

  it("the verifier uses a store of one's own (e.g. shared between replicas), keyed by jkt and jti", async () => {
    const keys: string[] = [];
    const store: DpopReplayStore = { consume: async (k) => (keys.push(k), keys.filter((x) => x === k).length === 1) };
    const dpopKey = await generateDpopKey();
    const jkt = await calculateJwkThumbprint(dpopKey.publicJwk);
    const v = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: new FakeAuthServer(key).fetch, clock, dpop: { replayCache: store } });
    const bound = await sign(key, claimsAt(clock.now(), { cnf: { jkt } }));
    const htu = "https://orders.test/orders";
    const proof = await createDpopProof(dpopKey, { htm: "GET", htu, accessToken: bound, now: () => clock.now() });
    await v.verify(bound, { dpop: { proof, htm: "GET", htu } });
    expect(await codeOf(v.verify(bound, { dpop: { proof, htm: "GET", htu } }))).toBe("ERR_DPOP_PROOF_REPLAYED");
    expect(keys[0]).toBe(`${jkt}.${decodeJwt(proof).jti as string}`);
    // Proof algorithms are pinned by option: an EdDSA proof is refused by an ES256-only verifier.
    const es256Only = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: new FakeAuthServer(key).fetch, clock, dpop: { algorithms: ["ES256"] } });
    const ed = await generateDpopKey("EdDSA");
    const edBound = await sign(key, claimsAt(clock.now(), { cnf: { jkt: await calculateJwkThumbprint(ed.publicJwk) } }));
    const edProof = await createDpopProof(ed, { htm: "GET", htu, accessToken: edBound, now: () => clock.now() });
    expect(await codeOf(es256Only.verify(edBound, { dpop: { proof: edProof, htm: "GET", htu } }))).toBe("ERR_DPOP_PROOF_INVALID");
    expect(es256Only.dpopAlgorithms).toEqual(["ES256"]);
    expect(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE, dpop: { algorithms: ["HS256"] } })).toThrow(InvalidOptionsError);
  });
});

describe("DPoP challenges (RFC 9449 §7.1)", () => {
  it("proof errors are DPoP challenges with algs; realm comes first", () => {
    const err = new TokenVerificationError("ERR_DPOP_PROOF_IAT", "the DPoP proof iat is outside the accepted window");
    expect(wwwAuthenticate(err, { realm: "orders", dpopAlgs: ["ES256", "PS256"] })).toBe(
      'DPoP realm="orders", error="invalid_dpop_proof", error_description="the DPoP proof iat is outside the accepted window", algs="ES256 PS256"',
    );
    expect(refusal(err)).toMatchObject({ status: 401, body: { error: "invalid_dpop_proof", code: "ERR_DPOP_PROOF_IAT" } });
  });

  it("a missing token offers both schemes with offerDpop, else Bearer alone", () => {
    const missing = new TokenVerificationError("ERR_TOKEN_MISSING", "no access token");
    expect(wwwAuthenticate(missing)).toBe("Bearer");
    expect(wwwAuthenticate(missing, { offerDpop: true, dpopAlgs: ["ES256"] })).toBe('Bearer, DPoP algs="ES256"');
  });

  it("insufficient scope of a token presented with DPoP is a DPoP challenge", () => {
    let err: unknown;
    try {
      requireScopes({ scopes: ["orders:write"], scheme: "DPoP" }, ["orders:read"]);
    } catch (e) {
      err = e;
    }
    expect(wwwAuthenticate(err as TokenVerificationError, { dpopAlgs: ["ES256"] })).toBe(
      'DPoP error="insufficient_scope", error_description="the access token lacks a required scope", scope="orders:read", algs="ES256"',
    );
  });
});

describe("the token source's DPoP rules", () => {
  class Scripted implements TokenTransport {
    readonly proofs: string[] = [];
    constructor(private readonly answer: (n: number) => TokenResponse | Promise<TokenResponse>) {}
    async issue(req: TokenRequest): Promise<TokenResponse> {
      if (req.dpopProof) this.proofs.push(await req.dpopProof("POST", "https://auth.test/oauth/token"));
      return this.answer(this.proofs.length);
    }
  }
  const source = (transport: TokenTransport, extra: Partial<ConstructorParameters<typeof TokenSource>[0]> = {}) =>
    new TokenSource({ clientId: "a", clientSecret: "b", audience: AUDIENCE, transport, clock: new ManualClock(), random: () => 0, ...extra });

  it("a Bearer answer to a DPoP request is refused (ERR_TOKEN_RESPONSE_INVALID), and a DPoP answer without a key", async () => {
    const bearer = source(new Scripted(() => ({ accessToken: "t", expiresIn: 3600, scope: undefined, tokenType: "Bearer" })), { dpop: true });
    await expect(bearer.token()).rejects.toMatchObject({ code: "ERR_TOKEN_RESPONSE_INVALID", retryable: false });
    const unasked = source(new Scripted(() => ({ accessToken: "t", expiresIn: 3600, scope: undefined, tokenType: "DPoP" })));
    await expect(unasked.token()).rejects.toMatchObject({ code: "ERR_TOKEN_RESPONSE_INVALID" });
  });

  it("every attempt carries a fresh proof (a retry after UNAVAILABLE too)", async () => {
    const transport = new Scripted((n) => {
      if (n === 1) throw new TokenSourceError("ERR_TOKEN_ENDPOINT_UNAVAILABLE", "unavailable", { retryable: true });
      return { accessToken: "t", expiresIn: 3600, scope: undefined, tokenType: "DPoP" };
    });
    const ts = source(transport, { dpop: true });
    expect(await ts.token()).toBe("t");
    expect(transport.proofs).toHaveLength(2);
    const [a, b] = transport.proofs.map((p) => decodeJwt(p));
    expect(a!.jti).not.toBe(b!.jti);
    expect(a).toMatchObject({ htm: "POST", htu: "https://auth.test/oauth/token" });
    expect(decodeProtectedHeader(transport.proofs[0]!)).toMatchObject({ typ: "dpop+jwt", alg: "ES256", jwk: ts.dpopKey!.publicJwk });
  });

  it("options: gRPC DPoP needs the issuer (htu), the gRPC interceptor a baseUrl; proofFor needs a key", async () => {
    expect(() => new TokenSource({ address: "127.0.0.1:1", clientId: "a", clientSecret: "b", dpop: true })).toThrow(InvalidOptionsError);
    const ts = source(new Scripted(() => ({ accessToken: "t", expiresIn: 3600, scope: undefined })), { dpop: true });
    expect(() => ts.grpcInterceptor()).toThrow(InvalidOptionsError);
    const plain = source(new Scripted(() => ({ accessToken: "t", expiresIn: 3600, scope: undefined })));
    await expect(plain.proofFor({ htm: "GET", htu: "https://x.test/" })).rejects.toBeInstanceOf(InvalidOptionsError);
    expect(await plain.authorizationHeaders("GET", "https://x.test/")).toEqual({ authorization: "Bearer t" });
  });
});
