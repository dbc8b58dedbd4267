import * as grpc from "@grpc/grpc-js";
import { createHash, randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalJWKSet, decodeJwt, exportJWK, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { IssueTokenRequest, TokenServiceClient } from "../../gen/authz/v1/token.js";
import { createPki, type Pki, type TestCert } from "../helpers/pki.js";
import { killAll, serve, stop, type Running } from "../helpers/process.js";
import { promisify } from "../helpers/promisify.js";

/**
 * RFC 8705 through `authz serve` with TLS and a client CA (issue 17, items
 * 2 and 3): mTLS client authentication (PKI and self-signed) over HTTPS and
 * gRPC, certificate-bound tokens, introspection's cnf, and an API server
 * that requires certificate binding. Real sockets, real certificates.
 */
let pki: Pki;
let dir: string;
let r: Running;
const ISSUER = "https://authz.test";
const ADMIN = { id: "mtls-admin", secret: randomBytes(24).toString("base64url") };
let adminToken: string;

beforeAll(async () => {
  pki = createPki();
  dir = mkdtempSync(join(tmpdir(), "authz-mtls-"));
  r = await serve(["--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--ops-address", "", "--data-file", join(dir, "authz.db"), "--tls-cert", pki.server.certPath, "--tls-key", pki.server.keyPath, "--tls-client-ca", pki.ca.certPath, "--issuer", ISSUER], {
    env: { AUTHZ_ADMIN_CLIENT_ID: ADMIN.id, AUTHZ_ADMIN_CLIENT_SECRET: ADMIN.secret },
  });
  const res = await post("/oauth/token", form({ grant_type: "client_credentials", audience: "urn:authz:management", client_id: ADMIN.id, client_secret: ADMIN.secret }));
  adminToken = res.json.access_token as string;
});
afterAll(async () => {
  if (r) await stop(r);
  killAll();
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  json: Record<string, any>;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request to the gateway, trusting the test CA, optionally with a client certificate. */
function post(path: string, body: { contentType: string; text: string }, options: { cert?: TestCert; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port: r.httpPort!, path, method: "POST", ca: pki.ca.cert, servername: "localhost", agent: false, ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}), headers: { "content-type": body.contentType, ...options.headers } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, json: text ? (JSON.parse(text) as Record<string, any>) : {}, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(body.text);
  });
}
const form = (fields: Record<string, string>) => ({ contentType: "application/x-www-form-urlencoded", text: new URLSearchParams(fields).toString() });
const json = (value: unknown) => ({ contentType: "application/json", text: JSON.stringify(value) });
const managed = (path: string, body: unknown) => post(path, json(body), { headers: { authorization: `Bearer ${adminToken}` } });

async function apiServer(extra: Record<string, unknown> = {}) {
  const res = await managed("/v1/api-servers", { name: "Orders", identifier: `https://orders-${randomBytes(4).toString("hex")}.example.com`, permissions: [{ value: "orders:read" }], ...extra });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json.api_server as { id: string; identifier: string };
}
async function client(fields: Record<string, unknown>, api: { id: string }) {
  const res = await managed("/v1/clients", { name: "svc", ...fields });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  const created = res.json as { client: { client_id: string }; client_secret: string };
  expect((await managed("/v1/grants", { client_id: created.client.client_id, api_server_id: api.id, scopes: ["orders:read"] })).status).toBe(200);
  return { clientId: created.client.client_id, secret: created.client_secret };
}
async function seeTokensOf(api: { id: string }) {
  expect((await managed("/v1/grants", { client_id: ADMIN.id, api_server_id: api.id, scopes: ["orders:read"] })).status).toBe(200);
}
const thumbprint = (cert: TestCert) => createHash("sha256").update(new X509Certificate(cert.cert).raw).digest("base64url");
async function jwks(): Promise<JSONWebKeySet> {
  return new Promise((resolve, reject) => {
    httpsRequest({ host: "127.0.0.1", port: r.httpPort!, path: "/.well-known/jwks.json", ca: pki.ca.cert, servername: "localhost", agent: false }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve(JSON.parse(text) as JSONWebKeySet));
    })
      .on("error", reject)
      .end();
  });
}

describe("tls_client_auth (RFC 8705 §2.1): a certificate from the client CA, matched by its SAN", () => {
  test("the client gets a certificate-bound token (cnf.x5t#S256 of its certificate); introspection reports the binding", async () => {
    const api = await apiServer();
    const cert = pki.issueClient({ cn: "orders-worker", sanDns: ["orders-worker.internal.example"] });
    const c = await client({ token_endpoint_auth_method: "TLS_CLIENT_AUTH", tls_client_auth_san_dns: "orders-worker.internal.example", tls_client_certificate_bound_access_tokens: true }, api);
    const res = await post("/oauth/token", form({ grant_type: "client_credentials", client_id: c.clientId, audience: api.identifier }), { cert });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.token_type).toBe("Bearer"); // RFC 8705 §3: still a bearer-scheme token
    const { payload } = await jwtVerify(res.json.access_token as string, createLocalJWKSet(await jwks()), { issuer: ISSUER, audience: api.identifier });
    expect(payload.cnf).toEqual({ "x5t#S256": thumbprint(cert) });

    await seeTokensOf(api); // an introspector sees the tokens of API servers it has a grant on
    const introspected = await post("/oauth/introspect", form({ token: res.json.access_token as string }), { headers: { authorization: `Bearer ${adminToken}` } });
    expect(introspected.json).toMatchObject({ active: true, client_id: c.clientId, cnf: { "x5t#S256": thumbprint(cert) } });
  });

  test("without a certificate, with one from another CA, or with one naming someone else: invalid_client, and nothing is issued", async () => {
    const api = await apiServer();
    const c = await client({ token_endpoint_auth_method: "tls_client_auth", tls_client_auth_san_dns: "billing.internal.example" }, api);
    const body = form({ grant_type: "client_credentials", client_id: c.clientId, audience: api.identifier });
    const none = await post("/oauth/token", body);
    expect([none.status, none.json.error]).toEqual([401, "invalid_client"]);
    const impostor = pki.otherCa("Impostor CA").issueClient({ cn: "billing", sanDns: ["billing.internal.example"] });
    const foreign = await post("/oauth/token", body, { cert: impostor });
    expect([foreign.status, foreign.json.error]).toEqual([401, "invalid_client"]);
    const other = await post("/oauth/token", body, { cert: pki.issueClient({ cn: "orders", sanDns: ["orders.internal.example"] }) });
    expect([other.status, other.json.error]).toEqual([401, "invalid_client"]);
    const expired = pki.issueClient({ cn: "billing", sanDns: ["billing.internal.example"], notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    expect((await post("/oauth/token", body, { cert: expired })).status).toBe(401);
    // The right certificate works.
    const good = await post("/oauth/token", body, { cert: pki.issueClient({ cn: "billing", sanDns: ["billing.internal.example"] }) });
    expect(good.status).toBe(200);
    expect(decodeJwt(good.json.access_token as string).cnf).toBeUndefined(); // not registered for binding: a plain bearer token
  });

  test("over gRPC with TLS: IssueToken authenticates the connection's certificate", async () => {
    const api = await apiServer();
    const cert = pki.issueClient({ cn: "grpc-worker", subject: "/O=Acme/CN=grpc-worker" });
    const c = await client({ token_endpoint_auth_method: "TLS_CLIENT_AUTH", tls_client_auth_subject_dn: "CN=grpc-worker,O=Acme", tls_client_certificate_bound_access_tokens: true }, api);
    const tokens = promisify(new TokenServiceClient(`127.0.0.1:${r.grpcPort}`, grpc.credentials.createSsl(Buffer.from(pki.ca.cert), Buffer.from(cert.key), Buffer.from(cert.cert)), { "grpc.ssl_target_name_override": "localhost" }));
    try {
      const res = await tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: c.clientId }, audience: api.identifier }));
      expect(decodeJwt(res.accessToken).cnf).toEqual({ "x5t#S256": thumbprint(cert) });
      await seeTokensOf(api);
      const introspected = await tokens.introspectToken({ token: res.accessToken, tokenTypeHint: "", client: { clientId: ADMIN.id, clientSecret: ADMIN.secret, clientAssertion: "", clientAssertionType: "" } });
      expect(introspected.cnf).toEqual({ x5tS256: thumbprint(cert), jkt: "" });
    } finally {
      tokens.raw.close();
    }
  });
});

describe("the management API and its own certificate-bound tokens (RFC 8705 §3)", () => {
  test("served over a connection with the token's certificate; with another certificate or none: 401 invalid_token", async () => {
    const cert = pki.issueClient({ cn: "operator", sanDns: ["operator.internal.example"] });
    const created = await managed("/v1/clients", { name: "operator", token_endpoint_auth_method: "TLS_CLIENT_AUTH", tls_client_auth_san_dns: "operator.internal.example", tls_client_certificate_bound_access_tokens: true });
    const clientId = (created.json.client as { client_id: string }).client_id;
    expect((await managed("/v1/grants", { client_id: clientId, api_server_id: "as_management", scopes: ["api_servers:write"] })).status).toBe(200);
    const issued = await post("/oauth/token", form({ grant_type: "client_credentials", client_id: clientId, audience: "urn:authz:management" }), { cert });
    expect(decodeJwt(issued.json.access_token as string).cnf).toEqual({ "x5t#S256": thumbprint(cert) });
    const create = (options: { cert?: TestCert }) =>
      post("/v1/api-servers", json({ name: "Bound", identifier: `https://bound-${randomBytes(4).toString("hex")}.example.com` }), { ...options, headers: { authorization: `Bearer ${issued.json.access_token as string}` } });
    for (const refused of [await create({}), await create({ cert: pki.issueClient({ cn: "someone-else" }) })]) {
      expect(refused.status).toBe(401);
      expect(refused.headers["www-authenticate"]).toMatch(/error="invalid_token"/);
    }
    expect((await create({ cert })).status).toBe(200);
  });
});

describe("self_signed_tls_client_auth (RFC 8705 §2.2): a certificate whose key is in the client's JWKS", () => {
  test("accepted with its own self-signed certificate; refused with another self-signed one", async () => {
    const api = await apiServer();
    const cert = pki.selfSigned("edge-device");
    const jwk = await exportJWK(new X509Certificate(cert.cert).publicKey);
    const c = await client({ token_endpoint_auth_method: "SELF_SIGNED_TLS_CLIENT_AUTH", jwks: { keys: [{ ...jwk, kid: "device-1" }] } }, api);
    const body = form({ grant_type: "client_credentials", client_id: c.clientId, audience: api.identifier });
    expect((await post("/oauth/token", body, { cert })).status).toBe(200);
    const other = await post("/oauth/token", body, { cert: pki.selfSigned("edge-device") });
    expect([other.status, other.json.error]).toEqual([401, "invalid_client"]);
  });
});

describe("an API server with sender_constraint MTLS", () => {
  test("a secret client gets a token bound to the certificate it connected with; without one the request is refused", async () => {
    const api = await apiServer({ sender_constraint: "MTLS" });
    const c = await client({}, api);
    const body = form({ grant_type: "client_credentials", client_id: c.clientId, client_secret: c.secret, audience: api.identifier });
    const refused = await post("/oauth/token", body);
    expect([refused.status, refused.json.error]).toEqual([400, "invalid_request"]);
    const cert = pki.issueClient({ cn: "any-workload" });
    const bound = await post("/oauth/token", body, { cert });
    expect(bound.status).toBe(200);
    expect(decodeJwt(bound.json.access_token as string).cnf).toEqual({ "x5t#S256": thumbprint(cert) });
  });
});

describe("refresh tokens of certificate-bound issuance (issue 17, item 5; RFC 8705 §4)", () => {
  test("need the same certificate: another or none is invalid_grant and spends nothing; the same one refreshes", async () => {
    const api = await apiServer({ sender_constraint: "MTLS", allow_offline_access: true });
    const c = await client({ grant_types: ["client_credentials", "refresh_token"] }, api);
    const cert = pki.issueClient({ cn: "refreshing-workload" });
    const issued = await post("/oauth/token", form({ grant_type: "client_credentials", client_id: c.clientId, client_secret: c.secret, audience: api.identifier }), { cert });
    expect(issued.status, JSON.stringify(issued.json)).toBe(200);
    const refresh = form({ grant_type: "refresh_token", client_id: c.clientId, client_secret: c.secret, refresh_token: issued.json.refresh_token as string });
    for (const other of [pki.issueClient({ cn: "refreshing-workload" }), undefined]) {
      const refused = await post("/oauth/token", refresh, other ? { cert: other } : {});
      expect([refused.status, refused.json.error]).toEqual([400, "invalid_grant"]);
    }
    const again = await post("/oauth/token", refresh, { cert });
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    expect(decodeJwt(again.json.access_token as string).cnf).toEqual({ "x5t#S256": thumbprint(cert) });
  });
});

describe("metadata with a client CA", () => {
  test("advertises the RFC 8705 methods and certificate-bound tokens", async () => {
    const metadata = await new Promise<Record<string, unknown>>((resolve, reject) => {
      httpsRequest({ host: "127.0.0.1", port: r.httpPort!, path: "/.well-known/oauth-authorization-server", ca: pki.ca.cert, servername: "localhost", agent: false }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve(JSON.parse(text) as Record<string, unknown>));
      })
        .on("error", reject)
        .end();
    });
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(["tls_client_auth", "self_signed_tls_client_auth"]));
    expect(metadata.tls_client_certificate_bound_access_tokens).toBe(true);
  });
});

describe("behind a proxy: x-forwarded-client-cert from a trusted address only", () => {
  const servers: Running[] = [];
  afterAll(async () => {
    for (const s of servers) await stop(s);
  });
  /** A server trusting `trusted`'s XFCC; `token(xfcc, from)` asks for a token with that header, connecting from `from`. */
  async function proxied(trusted: string, extra: string[] = []) {
    const s = await serve(["--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--ops-address", "", "--data-file", join(dir, `proxied-${servers.length}.db`), "--tls-client-ca", pki.ca.certPath, "--trusted-proxies", trusted, ...extra], {
      env: { AUTHZ_ADMIN_CLIENT_ID: ADMIN.id, AUTHZ_ADMIN_CLIENT_SECRET: ADMIN.secret },
    });
    servers.push(s);
    const call = (path: string, body: string, headers: Record<string, string>, localAddress = "127.0.0.1") =>
      new Promise<{ status: number; json: Record<string, any> }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: s.httpPort!, path, method: "POST", headers, localAddress, agent: false }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, any> }));
        });
        req.on("error", reject);
        req.end(body);
      });
    const admin = (await call("/oauth/token", form({ grant_type: "client_credentials", audience: "urn:authz:management", client_id: ADMIN.id, client_secret: ADMIN.secret }).text, { "content-type": "application/x-www-form-urlencoded" })).json.access_token as string;
    const mgmt = (path: string, body: unknown) => call(path, JSON.stringify(body), { "content-type": "application/json", authorization: `Bearer ${admin}` });
    const api = (await mgmt("/v1/api-servers", { name: "Proxied", identifier: `https://proxied-${randomBytes(4).toString("hex")}.example.com`, permissions: [{ value: "orders:read" }] })).json.api_server as { id: string; identifier: string };
    const c = (await mgmt("/v1/clients", { name: "behind-envoy", token_endpoint_auth_method: "TLS_CLIENT_AUTH", tls_client_auth_san_uri: "spiffe://acme/orders", tls_client_certificate_bound_access_tokens: true })).json.client as { client_id: string };
    expect((await mgmt("/v1/grants", { client_id: c.client_id, api_server_id: api.id, scopes: ["orders:read"] })).status).toBe(200);
    return (xfcc: string, from?: string) =>
      call("/oauth/token", form({ grant_type: "client_credentials", client_id: c.client_id, audience: api.identifier }).text, { "content-type": "application/x-www-form-urlencoded", "x-forwarded-client-cert": xfcc }, from);
  }
  const xfccOf = (cert: TestCert) => `By=spiffe://acme/envoy;Cert="${encodeURIComponent(cert.cert)}";Subject="CN=orders";URI=spiffe://acme/orders`;

  test("from a trusted proxy the forwarded certificate authenticates the client and binds its token", async () => {
    const token = await proxied("127.0.0.1");
    const cert = pki.issueClient({ cn: "orders", sanUri: ["spiffe://acme/orders"] });
    const res = await token(xfccOf(cert));
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(decodeJwt(res.json.access_token as string).cnf).toEqual({ "x5t#S256": thumbprint(cert) });
    // A forwarded certificate from another CA is still checked against the client CA.
    expect((await token(xfccOf(pki.otherCa("Elsewhere").issueClient({ cn: "orders", sanUri: ["spiffe://acme/orders"] })))).status).toBe(401);
    expect((await token("Cert=garbage")).status).toBe(401);
  });

  test("from any other address the header is ignored: no certificate, invalid_client", async () => {
    const token = await proxied("10.9.8.7");
    const res = await token(xfccOf(pki.issueClient({ cn: "orders", sanUri: ["spiffe://acme/orders"] })));
    expect([res.status, res.json.error]).toEqual([401, "invalid_client"]);
  });

  test("over the loopback upstream, where every call reaches gRPC from 127.0.0.1: only an HTTP caller that is itself trusted forwards the header", async () => {
    const token = await proxied("127.0.0.1", ["--gateway-upstream", "loopback"]);
    const xfcc = xfccOf(pki.issueClient({ cn: "orders", sanUri: ["spiffe://acme/orders"] }));
    // A caller anywhere else writing the header (a public certificate is all it takes) is not the client.
    const forged = await token(xfcc, "127.0.0.5");
    expect([forged.status, forged.json.error]).toEqual([401, "invalid_client"]);
    expect((await token(xfcc, "127.0.0.1")).status).toBe(200);
  });
});
