import { createRemoteJWKSet, jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, basicAuth, httpTarget, rest, uniqueIdentifier, type HttpTarget } from "./helpers.js";

let target: HttpTarget;
let admin: string;
let managementId: string;
beforeAll(async () => {
  target = await httpTarget();
  admin = await adminToken(target);
  const list = await rest(target, admin, "GET", `/v1/api-servers?filter=${encodeURIComponent('identifier = "urn:authz:management"')}`);
  managementId = list.json.api_servers[0].id;
});
afterAll(() => target.close());

/** An API server, a client of the given auth method (none given: the default, client_secret_basic), and a grant, created over REST. */
async function setup(method?: string, scopes = ["orders:read"], grantTypes: string[] = []) {
  const server = (await rest(target, admin, "POST", "/v1/api-servers", { name: "Orders", identifier: uniqueIdentifier(), permissions: [{ value: "orders:read" }, { value: "orders:write" }] })).json.api_server;
  const created = (await rest(target, admin, "POST", "/v1/clients", { name: "svc", ...(method ? { token_endpoint_auth_method: method } : {}), grant_types: grantTypes })).json;
  await rest(target, admin, "POST", "/v1/grants", { client_id: created.client.client_id, api_server_id: server.id, scopes });
  return { server, clientId: created.client.client_id as string, secret: created.client_secret as string };
}

/** A client that may introspect tokens of `apiServerId`. */
async function introspector(apiServerId: string) {
  const created = (await rest(target, admin, "POST", "/v1/clients", { name: "rs" })).json;
  await rest(target, admin, "POST", "/v1/grants", { client_id: created.client.client_id, api_server_id: managementId, scopes: ["tokens:introspect"] });
  await rest(target, admin, "POST", "/v1/grants", { client_id: created.client.client_id, api_server_id: apiServerId });
  return { clientId: created.client.client_id as string, secret: created.client_secret as string };
}

const post = (path: string, body: string | URLSearchParams, headers: Record<string, string>) => fetch(`${target.base}${path}`, { method: "POST", headers, body });
const FORM = { "content-type": "application/x-www-form-urlencoded" };

describe("a standard OAuth client library (oauth4webapi)", () => {
  test("discovery, client credentials, remote JWKS verification, introspection, revocation", async () => {
    const { server, clientId, secret } = await setup();
    const issuer = new URL(target.base);
    const insecure = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }));
    expect(as.token_endpoint).toBe(`${target.base}/oauth/token`);

    const client: oauth.Client = { client_id: clientId };
    const auth = oauth.ClientSecretBasic(secret);
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ audience: server.identifier }), insecure);
    const tokens = await oauth.processClientCredentialsResponse(as, client, response);
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.scope).toBe("orders:read");
    expect(tokens.expires_in).toBe(86400);

    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(as.jwks_uri!)), { issuer: as.issuer, audience: server.identifier, typ: "at+jwt", algorithms: ["ES256"] });
    expect(protectedHeader.typ).toBe("at+jwt");
    expect(payload).toMatchObject({ client_id: clientId, sub: clientId, scope: "orders:read" });

    const rs = await introspector(server.id);
    const rsClient: oauth.Client = { client_id: rs.clientId };
    const rsAuth = oauth.ClientSecretBasic(rs.secret);
    const introspected = await oauth.processIntrospectionResponse(as, rsClient, await oauth.introspectionRequest(as, rsClient, rsAuth, tokens.access_token, insecure));
    expect(introspected).toMatchObject({ active: true, client_id: clientId, aud: server.identifier, scope: "orders:read" });

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, tokens.access_token, insecure));
    const after = await oauth.processIntrospectionResponse(as, rsClient, await oauth.introspectionRequest(as, rsClient, rsAuth, tokens.access_token, insecure));
    expect(after.active).toBe(false);
  });
});

describe("POST /oauth/token", () => {
  test("form body with Basic: 200, exact RFC fields, no-store", async () => {
    const { server, clientId, secret } = await setup();
    const res = await post("/oauth/token", new URLSearchParams({ grant_type: "client_credentials", audience: server.identifier }), { ...FORM, authorization: basicAuth(clientId, secret) });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("pragma")).toBe("no-cache");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "scope", "token_type"]);
    expect(body.expires_in).toBe(86400);
  });

  test("AuthAction's JSON body with client_secret_post against a default client, and the RFC 8707 resource parameter", async () => {
    const { server, clientId, secret } = await setup();
    const json = await post("/oauth/token", JSON.stringify({ client_id: clientId, client_secret: secret, audience: server.identifier, grant_type: "client_credentials" }), { "content-type": "application/json" });
    expect(json.status).toBe(200);
    const body = (await json.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "scope", "token_type"]);
    expect(body).toMatchObject({ access_token: expect.stringMatching(/^ey/), token_type: "Bearer", expires_in: 86400 });
    const form = await post("/oauth/token", new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret, resource: server.identifier }), FORM);
    expect(form.status).toBe(200);
  });

  test("every error with its RFC status and body", async () => {
    const { server, clientId, secret } = await setup("TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC", ["orders:read"]);
    const auth = { ...FORM, authorization: basicAuth(clientId, secret) };
    const cases: Array<[string, Record<string, string>, Record<string, string>, number, string]> = [
      ["bad secret", { grant_type: "client_credentials", audience: server.identifier }, { ...FORM, authorization: basicAuth(clientId, "wrong") }, 401, "invalid_client"],
      ["no grant_type", { audience: server.identifier }, auth, 400, "invalid_request"],
      ["unknown grant type", { grant_type: "password" }, auth, 400, "unsupported_grant_type"],
      ["grant type not allowed", { grant_type: "refresh_token", refresh_token: "rt_x" }, auth, 400, "unauthorized_client"],
      ["unknown audience", { grant_type: "client_credentials", audience: "https://unknown.example.com" }, auth, 400, "invalid_target"],
      ["malformed scope token", { grant_type: "client_credentials", audience: server.identifier, scope: 'a"b' }, auth, 400, "invalid_scope"],
    ];
    for (const [name, params, headers, status, error] of cases) {
      const res = await post("/oauth/token", new URLSearchParams(params), headers);
      expect(res.status, name).toBe(status);
      expect(res.headers.get("cache-control"), name).toBe("no-store");
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error, name).toBe(error);
      expect(typeof body.error_description, name).toBe("string");
      if (status === 401) expect(res.headers.get("www-authenticate"), name).toMatch(/^Basic /);
    }
  });

  test("scope in the response whenever it differs from the request's (RFC 6749 §5.1): also empty when nothing asked for was granted", async () => {
    const { server, clientId, secret } = await setup("TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC", ["orders:read"]);
    const ask = async (scope?: string) =>
      (await (await post("/oauth/token", new URLSearchParams({ grant_type: "client_credentials", audience: server.identifier, ...(scope ? { scope } : {}) }), { ...FORM, authorization: basicAuth(clientId, secret) })).json()) as { scope?: string };
    expect((await ask("orders:write")).scope).toBe(""); // enforce policies off: dropped, and said so
    expect((await ask("orders:read orders:write")).scope).toBe("orders:read");
    expect((await ask()).scope).toBe("orders:read");
  });

  test("invalid_grant for a refresh token that does not exist", async () => {
    const { clientId, secret } = await setup("TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC", ["orders:read"], ["client_credentials", "refresh_token"]);
    const res = await post("/oauth/token", new URLSearchParams({ grant_type: "refresh_token", refresh_token: "rt_nope" }), { ...FORM, authorization: basicAuth(clientId, secret) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_grant");
  });
});

describe("introspect, revoke, JWKS, metadata, registration", () => {
  test("introspection needs an authorized caller; inactive is exactly {active:false}", async () => {
    const { server, clientId, secret } = await setup();
    const token = ((await (await post("/oauth/token", new URLSearchParams({ grant_type: "client_credentials", audience: server.identifier }), { ...FORM, authorization: basicAuth(clientId, secret) })).json()) as { access_token: string }).access_token;
    const anonymous = await post("/oauth/introspect", new URLSearchParams({ token }), FORM);
    expect(anonymous.status).toBe(401);
    const rs = await introspector(server.id);
    const ok = await post("/oauth/introspect", new URLSearchParams({ token }), { ...FORM, authorization: basicAuth(rs.clientId, rs.secret) });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ active: true, token_type: "Bearer", iss: target.base });
    expect(typeof body.exp).toBe("number");
    const bad = await post("/oauth/introspect", new URLSearchParams({ token: "x.y.z" }), { ...FORM, authorization: basicAuth(rs.clientId, rs.secret) });
    expect(await bad.json()).toEqual({ active: false });
    // A management bearer token with tokens:introspect works too (the admin holds every permission).
    const viaBearer = await post("/oauth/introspect", new URLSearchParams({ token }), { ...FORM, authorization: `Bearer ${admin}` });
    expect(viaBearer.status).toBe(200);
  });

  test("revocation answers 200 with an empty body, even for unknown tokens", async () => {
    const { clientId, secret } = await setup();
    const res = await post("/oauth/revoke", new URLSearchParams({ token: "unknown" }), { ...FORM, authorization: basicAuth(clientId, secret) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  test("JWKS and metadata are public and cacheable", async () => {
    const jwks = await fetch(`${target.base}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get("cache-control")).toMatch(/^public, max-age=\d+$/);
    const keys = ((await jwks.json()) as { keys: Array<Record<string, unknown>> }).keys;
    expect(new Set(keys.map((k) => k.alg))).toEqual(new Set(["ES256", "RS256", "EdDSA"]));
    for (const k of keys) expect(k.d).toBeUndefined();
    const meta = await fetch(`${target.base}/.well-known/oauth-authorization-server`);
    expect(((await meta.json()) as { issuer: string }).issuer).toBe(target.base);
  });

  test("registration creates a dynamic client (201) whose credentials work", async () => {
    const res = await post("/oauth/register", JSON.stringify({ client_name: "agent", token_endpoint_auth_method: "client_secret_post" }), { "content-type": "application/json" });
    expect(res.status).toBe(201);
    const reg = (await res.json()) as { client_id: string; client_secret: string };
    const server = (await rest(target, admin, "POST", "/v1/api-servers", { name: "Open", identifier: uniqueIdentifier("open"), permissions: [{ value: "open:read" }], dynamic_client_access: true, dynamic_client_scopes: ["open:read"] })).json.api_server;
    const token = await post("/oauth/token", new URLSearchParams({ grant_type: "client_credentials", client_id: reg.client_id, client_secret: reg.client_secret, audience: server.identifier }), FORM);
    expect(token.status).toBe(200);
    const bad = await post("/oauth/register", "not json", { "content-type": "application/json" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("invalid_client_metadata");
  });
});
