import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, jwtVerify } from "jose";
import * as client from "openid-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, httpTarget, rest, uniqueIdentifier, type HttpTarget } from "./helpers.js";

/**
 * The integrations of the first customers, each exactly as they call us:
 * openid-client (v6) for discovery, client credentials, introspection,
 * revocation and private_key_jwt; Faable's create-API body (Auth0 spelling).
 * AuthAction's JSON token request is in oauth.test.ts. Over HTTP only, so it
 * also runs against Envoy (AUTHZ_HTTP_URL).
 */
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

async function apiServer(fields: Record<string, unknown> = {}) {
  const res = await rest(target, admin, "POST", "/v1/api-servers", { name: "Apps", identifier: uniqueIdentifier("apps"), permissions: [{ value: "apps:read" }, { value: "apps:write" }], ...fields });
  expect(res.status, res.text).toBe(200);
  return res.json.api_server as { id: string; identifier: string };
}

/** A client as the management API creates it by default (client_secret_basic), granted `scopes` on the API server. */
async function defaultClient(apiServerId: string, scopes = ["apps:read"], fields: Record<string, unknown> = {}) {
  const created = await rest(target, admin, "POST", "/v1/clients", { name: "seed", ...fields });
  expect(created.status, created.text).toBe(200);
  const clientId = created.json.client.client_id as string;
  expect((await rest(target, admin, "POST", "/v1/grants", { client_id: clientId, api_server_id: apiServerId, scopes })).status).toBe(200);
  return { clientId, secret: created.json.client_secret as string };
}

/** openid-client's configuration from the server's RFC 8414 metadata (plain HTTP is allowed for the test server only). */
function discover(clientId: string, secret: string | undefined, auth?: client.ClientAuth) {
  return client.discovery(new URL(target.base), clientId, secret, auth, { algorithm: "oauth2", execute: [client.allowInsecureRequests] });
}

describe("openid-client", () => {
  test("client credentials with its default client_secret_post, against a default (client_secret_basic) client", async () => {
    const server = await apiServer();
    const { clientId, secret } = await defaultClient(server.id);
    const config = await discover(clientId, secret);
    expect(config.serverMetadata().token_endpoint).toBe(`${target.base}/oauth/token`);
    const tokens = await client.clientCredentialsGrant(config, { audience: server.identifier });
    expect(tokens).toMatchObject({ token_type: "bearer", scope: "apps:read", expires_in: 86400 });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!)), { issuer: config.serverMetadata().issuer, audience: server.identifier });
    expect(payload.client_id).toBe(clientId);
  });

  test("client credentials with ClientSecretBasic; introspection and revocation", async () => {
    const server = await apiServer();
    const { clientId, secret } = await defaultClient(server.id);
    const config = await discover(clientId, undefined, client.ClientSecretBasic(secret));
    const tokens = await client.clientCredentialsGrant(config, { audience: server.identifier, scope: "apps:read" });
    expect(tokens.scope).toBe("apps:read");

    // A resource server that may introspect this API server's tokens.
    const rs = await defaultClient(managementId, ["tokens:introspect"]);
    expect((await rest(target, admin, "POST", "/v1/grants", { client_id: rs.clientId, api_server_id: server.id })).status).toBe(200);
    const rsConfig = await discover(rs.clientId, rs.secret);
    expect(await client.tokenIntrospection(rsConfig, tokens.access_token)).toMatchObject({ active: true, client_id: clientId, aud: server.identifier, scope: "apps:read", token_type: "Bearer" });

    await client.tokenRevocation(config, tokens.access_token);
    expect(await client.tokenIntrospection(rsConfig, tokens.access_token)).toEqual({ active: false });
  });

  test("private_key_jwt with an Ed25519 key: openid-client signs with the fully specified alg Ed25519 (RFC 9864), which the server accepts", async () => {
    const server = await apiServer();
    const { privateKey, publicKey } = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const jwk = { ...(await exportJWK(publicKey)), kid: "seed-ed25519" };
    const created = await rest(target, admin, "POST", "/v1/clients", { name: "jwt", token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] } });
    expect(created.status, created.text).toBe(200);
    const clientId = created.json.client.client_id as string;
    await rest(target, admin, "POST", "/v1/grants", { client_id: clientId, api_server_id: server.id, scopes: ["apps:write"] });

    const algs: string[] = [];
    const auth = client.PrivateKeyJwt({ key: privateKey, kid: jwk.kid }, { [client.modifyAssertion]: (header) => void algs.push(String(header.alg)) });
    const config = await discover(clientId, undefined, auth);
    expect(config.serverMetadata().token_endpoint_auth_methods_supported).toContain("private_key_jwt");
    // What it signs with is what the metadata advertises (RFC 8414 §2).
    expect(config.serverMetadata().token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(["Ed25519", "EdDSA"]));
    const tokens = await client.clientCredentialsGrant(config, { audience: server.identifier });
    expect(algs).toEqual(["Ed25519"]);
    expect(tokens.scope).toBe("apps:write");
    // Each assertion is single use (RFC 7523 §3 jti): a second grant signs a new one and works too.
    expect((await client.clientCredentialsGrant(config, { audience: server.identifier })).scope).toBe("apps:write");
  });
});

describe("Faable", () => {
  /** Faable's create-API body, field for field (Auth0's resource-server spelling). */
  const faableBody = (fields: Record<string, unknown> = {}) => ({
    name: "Faable Apps",
    identifier: uniqueIdentifier("faable"),
    signing_alg: "RS256",
    token_lifetime: 86400,
    token_dialect: "access_token_authz",
    enforce_policies: true,
    allow_offline_access: true,
    skip_consent: true,
    permissions: [
      { value: "read:apps", description: "Read apps" },
      { value: "write:apps", description: "Deploy apps" },
    ],
    ...fields,
  });

  test("the create-API body works unchanged: GET shows exactly those settings", async () => {
    const body = faableBody();
    const created = await rest(target, admin, "POST", "/v1/api-servers", body);
    expect(created.status, created.text).toBe(200);
    const got = (await rest(target, admin, "GET", `/v1/api-servers/${created.json.api_server.id}`)).json.api_server;
    expect(got).toMatchObject({
      name: body.name,
      identifier: body.identifier,
      signing_alg: "SIGNING_ALG_RS256",
      token_lifetime: 86400,
      token_lifetime_seconds: 86400,
      token_dialect: "TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ",
      enforce_policies: true,
      allow_offline_access: true,
      skip_consent: true,
    });
    expect(got.permissions).toEqual(body.permissions);
  });

  test("a token for it is RS256, lives token_lifetime seconds and carries the permissions claim (access_token_authz)", async () => {
    const server = (await rest(target, admin, "POST", "/v1/api-servers", faableBody({ token_lifetime: 7200 }))).json.api_server;
    const { clientId, secret } = await defaultClient(server.id, ["read:apps", "write:apps"]);
    const config = await discover(clientId, secret);
    const tokens = await client.clientCredentialsGrant(config, { audience: server.identifier, scope: "read:apps" });
    expect(tokens.expires_in).toBe(7200);
    expect(decodeProtectedHeader(tokens.access_token).alg).toBe("RS256");
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!)), { audience: server.identifier, algorithms: ["RS256"] });
    expect(payload.permissions).toEqual(["read:apps"]);
    expect(payload.exp! - payload.iat!).toBe(7200);
  });
});
