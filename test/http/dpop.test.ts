import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createDpopProof, generateDpopKey, type DpopKey } from "../../sdk/src/dpop.js";
import { adminToken, basicAuth, httpTarget, rest, uniqueIdentifier, type HttpTarget } from "./helpers.js";

/**
 * RFC 9449 DPoP at the token endpoint (issue 17, item 4): openid-client's own
 * DPoP support end to end, then every refusal with its RFC error code. Over
 * HTTP only, so it also runs against Envoy (AUTHZ_HTTP_URL).
 */
let target: HttpTarget;
let admin: string;
let tokenEndpoint: string;
beforeAll(async () => {
  target = await httpTarget();
  admin = await adminToken(target);
  tokenEndpoint = ((await (await fetch(`${target.base}/.well-known/oauth-authorization-server`)).json()) as { token_endpoint: string }).token_endpoint;
});
afterAll(() => target.close());

async function fixture(api: Record<string, unknown> = {}, clientFields: Record<string, unknown> = {}) {
  const server = await rest(target, admin, "POST", "/v1/api-servers", { name: "Ledger", identifier: uniqueIdentifier("ledger"), permissions: [{ value: "ledger:read" }], ...api });
  expect(server.status, server.text).toBe(200);
  const created = await rest(target, admin, "POST", "/v1/clients", { name: "dpop-client", ...clientFields });
  expect(created.status, created.text).toBe(200);
  const clientId = created.json.client.client_id as string;
  expect((await rest(target, admin, "POST", "/v1/grants", { client_id: clientId, api_server_id: server.json.api_server.id, scopes: ["ledger:read"] })).status).toBe(200);
  // The introspecting admin sees the API server's tokens through a grant of its own.
  const me = decodeJwt(admin).client_id as string;
  expect((await rest(target, admin, "POST", "/v1/grants", { client_id: me, api_server_id: server.json.api_server.id, scopes: ["ledger:read"] })).status).toBe(200);
  return { audience: server.json.api_server.identifier as string, clientId, secret: created.json.client_secret as string };
}

/** A token request with client_secret_basic and, when given, a DPoP header. */
async function tokenRequest(f: { audience: string; clientId: string; secret: string }, dpop?: string) {
  const res = await fetch(`${target.base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth(f.clientId, f.secret), ...(dpop !== undefined ? { dpop } : {}) },
    body: new URLSearchParams({ grant_type: "client_credentials", audience: f.audience }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function introspect(token: string) {
  const res = await fetch(`${target.base}/oauth/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${admin}` }, body: new URLSearchParams({ token }) });
  return (await res.json()) as Record<string, any>;
}

const proof = (key: DpopKey, claims: Partial<{ htm: string; htu: string; now: () => number }> = {}) => createDpopProof(key, { htm: "POST", htu: tokenEndpoint, ...claims });

describe("DPoP-bound tokens", () => {
  test("openid-client with a DPoP key gets token_type DPoP bound to its key (cnf.jkt); introspection reports it", async () => {
    const f = await fixture();
    const config = await client.discovery(new URL(target.base), f.clientId, undefined, client.ClientSecretBasic(f.secret), { algorithm: "oauth2", execute: [client.allowInsecureRequests] });
    const keyPair = await client.randomDPoPKeyPair("ES256");
    const tokens = await client.clientCredentialsGrant(config, { audience: f.audience }, { DPoP: client.getDPoPHandle(config, keyPair) });
    expect(tokens.token_type).toBe("dpop");
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt });
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, token_type: "DPoP", cnf: { jkt } });
  });

  test("the metadata names the proof algorithms (RFC 9449 §5.1)", async () => {
    const metadata = (await (await fetch(`${target.base}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.dpop_signing_alg_values_supported).toEqual(["ES256", "EdDSA", "RS256", "PS256"]);
  });

  test("a proof by EdDSA and by RS256 works as well", async () => {
    const f = await fixture();
    for (const alg of ["EdDSA", "RS256"] as const) {
      const key = await generateDpopKey(alg);
      const res = await tokenRequest(f, await proof(key));
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect(decodeJwt(res.json.access_token as string).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.publicJwk) });
    }
  });
});

describe("refused proofs: 400 invalid_dpop_proof, and no token", () => {
  let f: Awaited<ReturnType<typeof fixture>>;
  let key: DpopKey;
  beforeAll(async () => {
    f = await fixture();
    key = await generateDpopKey("ES256");
  });
  const refused = async (dpop: string) => {
    const res = await tokenRequest(f, dpop);
    expect(res.status, JSON.stringify(res.json)).toBe(400);
    expect(res.json.error).toBe("invalid_dpop_proof");
    expect(res.json.access_token).toBeUndefined();
  };

  test("a replayed proof (its jti was used)", async () => {
    const once = await proof(key);
    expect((await tokenRequest(f, once)).status).toBe(200);
    await refused(once);
  });

  test("a wrong htu or htm", async () => {
    await refused(await proof(key, { htu: `${tokenEndpoint}-other` }));
    await refused(await proof(key, { htm: "GET" }));
  });

  test("a stale or future iat", async () => {
    await refused(await proof(key, { now: () => Date.now() - 10 * 60_000 }));
    await refused(await proof(key, { now: () => Date.now() + 10 * 60_000 }));
  });

  test("alg none, a symmetric key, a signature by another key, a private key in the header", async () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const claims = { jti: "j-none", htm: "POST", htu: tokenEndpoint, iat: Math.floor(Date.now() / 1000) };
    await refused(`${enc({ typ: "dpop+jwt", alg: "none", jwk: key.publicJwk })}.${enc(claims)}.`);
    const secret = new TextEncoder().encode("x".repeat(32));
    await refused(await new SignJWT({ ...claims, jti: "j-hs" }).setProtectedHeader({ typ: "dpop+jwt", alg: "HS256", jwk: { kty: "oct", k: "eA" } as JWK }).sign(secret));
    const other = await generateKeyPair("ES256");
    await refused(await new SignJWT({ ...claims, jti: "j-other" }).setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk }).sign(other.privateKey));
    const withPrivate = await generateKeyPair("ES256", { extractable: true });
    await refused(await new SignJWT({ ...claims, jti: "j-private" }).setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk: await exportJWK(withPrivate.privateKey) }).sign(withPrivate.privateKey));
  });

  test("garbage, and two proofs in one header", async () => {
    await refused("not-a-jwt");
    const a = await proof(key);
    await refused(`${a}, ${await proof(key)}`);
  });
});

describe("required DPoP", () => {
  test("an API server with sender_constraint DPOP refuses a request without a proof, and binds one with it", async () => {
    const f = await fixture({ sender_constraint: "DPOP" });
    const none = await tokenRequest(f);
    expect([none.status, none.json.error]).toEqual([400, "invalid_dpop_proof"]);
    const key = await generateDpopKey();
    const ok = await tokenRequest(f, await proof(key));
    expect([ok.status, ok.json.token_type]).toEqual([200, "DPoP"]);
  });

  test("a client registered dpop_bound_access_tokens must send a proof for any API server", async () => {
    const f = await fixture({}, { dpop_bound_access_tokens: true });
    const none = await tokenRequest(f);
    expect([none.status, none.json.error]).toEqual([400, "invalid_dpop_proof"]);
    expect((await tokenRequest(f, await proof(await generateDpopKey()))).status).toBe(200);
  });

  test("a plain request to an ordinary API server stays a bearer token", async () => {
    const f = await fixture();
    const res = await tokenRequest(f);
    expect([res.status, res.json.token_type]).toEqual([200, "Bearer"]);
    expect(decodeJwt(res.json.access_token as string).cnf).toBeUndefined();
  });
});

describe("refresh tokens of DPoP-bound issuance (issue 17, item 5; RFC 9449 §5)", () => {
  const refresh = (f: { clientId: string; secret: string }, refreshToken: string, dpop?: string) =>
    fetch(`${target.base}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth(f.clientId, f.secret), ...(dpop !== undefined ? { dpop } : {}) },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken }),
    }).then(async (res) => ({ status: res.status, json: (await res.json()) as Record<string, any> }));

  test("are bound to the proof's key: another key or none is invalid_grant and spends nothing; the same key refreshes, bound again", async () => {
    const f = await fixture({ allow_offline_access: true }, { grant_types: ["client_credentials", "refresh_token"] });
    const key = await generateDpopKey("ES256");
    const issued = await tokenRequest(f, await proof(key));
    expect(issued.status, JSON.stringify(issued.json)).toBe(200);
    const refreshToken = issued.json.refresh_token as string;
    expect(refreshToken).toMatch(/^rt_/);

    const other = await refresh(f, refreshToken, await proof(await generateDpopKey("ES256")));
    expect(other).toMatchObject({ status: 400, json: { error: "invalid_grant" } });
    expect(await refresh(f, refreshToken)).toMatchObject({ status: 400, json: { error: "invalid_grant" } });

    const again = await refresh(f, refreshToken, await proof(key)); // not spent (nor its family revoked) by the refused attempts
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    expect(again.json.token_type).toBe("DPoP");
    const jkt = await calculateJwkThumbprint(key.publicJwk);
    expect(decodeJwt(again.json.access_token as string).cnf).toEqual({ jkt });
    expect(await refresh(f, again.json.refresh_token as string, await proof(await generateDpopKey("ES256")))).toMatchObject({ status: 400, json: { error: "invalid_grant" } });
  });

  test("a refresh token issued without a proof stays a bearer one", async () => {
    const f = await fixture({ allow_offline_access: true }, { grant_types: ["client_credentials", "refresh_token"] });
    const issued = await tokenRequest(f);
    expect(issued.status, JSON.stringify(issued.json)).toBe(200);
    const res = await refresh(f, issued.json.refresh_token as string);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.token_type).toBe("Bearer");
  });
});

describe("the management API takes its own bound tokens only with their binding (RFC 9449 §7.1)", () => {
  async function managementClient() {
    const created = await rest(target, admin, "POST", "/v1/clients", { name: "dpop-operator" });
    expect(created.status, created.text).toBe(200);
    const clientId = created.json.client.client_id as string;
    expect((await rest(target, admin, "POST", "/v1/grants", { client_id: clientId, api_server_id: "as_management", scopes: ["clients:read", "tokens:introspect"] })).status).toBe(200);
    return { audience: "urn:authz:management", clientId, secret: created.json.client_secret as string };
  }
  const issuer = async () => ((await (await fetch(`${target.base}/.well-known/oauth-authorization-server`)).json()) as { issuer: string }).issuer;
  const listClients = (authorization: string, dpop?: string) => fetch(`${target.base}/v1/clients?page_size=1`, { headers: { authorization, ...(dpop !== undefined ? { dpop } : {}) } });

  test("a DPoP-bound management token: refused as Bearer and without a proof; accepted with a proof of its key for that request, once", async () => {
    const f = await managementClient();
    const key = await generateDpopKey();
    const issued = await tokenRequest(f, await proof(key));
    expect([issued.status, issued.json.token_type]).toEqual([200, "DPoP"]);
    const token = issued.json.access_token as string;
    const htu = `${await issuer()}/v1/clients`;

    // A thief holding only the token: as Bearer it is refused, pointing at DPoP.
    const asBearer = await listClients(`Bearer ${token}`);
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get("www-authenticate")).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
    expect((await listClients(`DPoP ${token}`)).status).toBe(401);
    // Proofs for another request, without ath, or by another key.
    expect((await listClients(`DPoP ${token}`, await createDpopProof(key, { htm: "POST", htu, accessToken: token }))).status).toBe(401);
    expect((await listClients(`DPoP ${token}`, await createDpopProof(key, { htm: "GET", htu: `${htu}/x`, accessToken: token }))).status).toBe(401);
    expect((await listClients(`DPoP ${token}`, await createDpopProof(key, { htm: "GET", htu }))).status).toBe(401);
    expect((await listClients(`DPoP ${token}`, await createDpopProof(await generateDpopKey(), { htm: "GET", htu, accessToken: token }))).status).toBe(401);

    const good = await createDpopProof(key, { htm: "GET", htu, accessToken: token });
    const ok = await listClients(`DPoP ${token}`, good);
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(((await ok.json()) as { clients: unknown[] }).clients).toHaveLength(1);
    expect((await listClients(`DPoP ${token}`, good)).status).toBe(401); // its jti was used
    // Nor does it authenticate an introspection caller as Bearer.
    const introspection = await fetch(`${target.base}/oauth/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token}` }, body: new URLSearchParams({ token }) });
    expect([introspection.status, ((await introspection.json()) as { error: string }).error]).toEqual([401, "invalid_client"]);
  });

  test("a bearer token sent with the DPoP scheme is refused; as Bearer it works", async () => {
    const f = await managementClient();
    const issued = await tokenRequest(f);
    expect([issued.status, issued.json.token_type]).toEqual([200, "Bearer"]);
    const token = issued.json.access_token as string;
    const key = await generateDpopKey();
    expect((await listClients(`DPoP ${token}`, await createDpopProof(key, { htm: "GET", htu: `${await issuer()}/v1/clients`, accessToken: token }))).status).toBe(401);
    expect((await listClients(`Bearer ${token}`)).status).toBe(200);
  });
});
