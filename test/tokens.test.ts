import * as grpc from "@grpc/grpc-js";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SigningAlg } from "../gen/authz/v1/common.js";
import { TokenDialect, UpdateApiServerRequest } from "../gen/authz/v1/api_server.js";
import { RotateClientSecretRequest, TokenEndpointAuthMethod, UpdateClientRequest } from "../gen/authz/v1/client.js";
import { IntrospectTokenRequest, IssueTokenRequest, RevokeTokenRequest, type ClientAuthentication } from "../gen/authz/v1/token.js";
import type { ManualClock } from "../src/clock.js";
import { basic, createApiServer, createClient, form, grant, oauthCall } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
let jwks: JSONWebKeySet;
const issuer = "https://auth.test.example";
const REGISTRATION_TOKEN = "initial-access-token-0123456789abcdef";

beforeAll(async () => {
  t = await startTestServer({ config: { issuer, registrationEnabled: true, registrationInitialAccessToken: REGISTRATION_TOKEN } });
  jwks = (await oauthCall(t.address, "getJwks")).json;
});
afterAll(() => t.cleanup());

const clock = () => t.clock as ManualClock;

type IssueFields = Omit<Partial<IssueTokenRequest>, "client"> & { client?: Partial<ClientAuthentication> };

async function issue(fields: IssueFields) {
  return t.clients.tokens.issueToken(IssueTokenRequest.fromPartial(fields));
}

async function verify(token: string) {
  return jwtVerify(token, createLocalJWKSet(jwks), { issuer, currentDate: new Date(t.clock.now()), typ: "at+jwt" });
}

/** An API server, a client (secret_post) and a grant with the given scopes. */
async function fixture(apiServer: Parameters<typeof createApiServer>[1] = {}, scopes = ["orders:read", "orders:write"], client = {}) {
  const server = await createApiServer(t, apiServer);
  const { client: c, secret } = await createClient(t, client);
  const g = await grant(t, c.clientId, server.id, scopes);
  return { server, client: c, secret, grant: g, auth: { clientId: c.clientId, clientSecret: secret } };
}

/** A client allowed to introspect tokens of `apiServerId`. */
async function introspector(apiServerId: string) {
  const list = await t.clients.apiServers.listApiServers({ pageSize: 1, pageToken: "", filter: 'identifier = "urn:authz:management"' });
  const management = list.apiServers[0]!;
  const { client, secret } = await createClient(t);
  await grant(t, client.clientId, management.id, ["tokens:introspect"]);
  await grant(t, client.clientId, apiServerId, []);
  return { clientId: client.clientId, clientSecret: secret };
}

function reason(err: grpc.ServiceError): string | undefined {
  // ErrorInfo.reason travels in grpc-status-details-bin; the RFC code also appears in details text via ErrorInfo.
  const raw = err.metadata?.get("grpc-status-details-bin")[0];
  if (!raw) return undefined;
  const text = Buffer.from(raw as Buffer).toString("latin1");
  return /(invalid_[a-z_]+|unsupported_[a-z_]+|unauthorized_client|access_denied)/.exec(text)?.[1];
}

describe("client credentials over typed gRPC", () => {
  test("issues an RFC 9068 ES256 token that verifies against the JWKS", async () => {
    const f = await fixture();
    const res = await issue({ client: f.auth, audience: f.server.identifier });
    expect(res.tokenType).toBe("Bearer");
    expect(res.expiresIn).toBe(86_400);
    expect(res.scope).toBe("orders:read orders:write");
    expect(res.refreshToken).toBe("");
    const header = decodeProtectedHeader(res.accessToken);
    expect(header).toMatchObject({ alg: "ES256", typ: "at+jwt" });
    expect(header.kid).toBeTruthy();
    const { payload } = await verify(res.accessToken);
    expect(payload).toMatchObject({ iss: issuer, sub: f.client.clientId, aud: f.server.identifier, client_id: f.client.clientId, scope: "orders:read orders:write" });
    expect(payload.exp! - payload.iat!).toBe(86_400);
    expect(typeof payload.jti).toBe("string");
    expect(payload.permissions).toBeUndefined();
  });

  test.each([
    ["RS256", SigningAlg.SIGNING_ALG_RS256],
    ["EdDSA", SigningAlg.SIGNING_ALG_EDDSA],
  ])("signs with %s when the API server asks for it", async (alg, signingAlg) => {
    const f = await fixture({ signingAlg });
    const res = await issue({ client: f.auth, audience: f.server.identifier });
    expect(decodeProtectedHeader(res.accessToken).alg).toBe(alg);
    await verify(res.accessToken);
  });

  test("the access_token_authz dialect adds a permissions array; lifetime follows the API server", async () => {
    const f = await fixture({ tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ, tokenLifetimeSeconds: 600 });
    const res = await issue({ client: f.auth, audience: f.server.identifier, scope: "orders:read" });
    const { payload } = await verify(res.accessToken);
    expect(payload.permissions).toEqual(["orders:read"]);
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(res.expiresIn).toBe(600);
  });

  test("resource (RFC 8707) selects the API server like audience; both must agree", async () => {
    const f = await fixture();
    const byResource = await issue({ client: f.auth, resource: f.server.identifier });
    expect((await verify(byResource.accessToken)).payload.aud).toBe(f.server.identifier);
    const both = await issue({ client: f.auth, resource: f.server.identifier, audience: f.server.identifier });
    expect(both.accessToken).toBeTruthy();
    const differ = await rpcError(issue({ client: f.auth, resource: f.server.identifier, audience: "https://other.example.com" }));
    expect(differ.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(reason(differ)).toBe("invalid_target");
    const relative = await rpcError(issue({ client: f.auth, resource: "orders" }));
    expect(reason(relative)).toBe("invalid_target");
  });

  test("an extra audience selects its API server and becomes aud", async () => {
    const extra = `https://extra-${Date.now()}.example.com`;
    const f = await fixture({ audiences: [extra] });
    const res = await issue({ client: f.auth, audience: extra });
    expect((await verify(res.accessToken)).payload.aud).toBe(f.server.identifier);
  });

  test("unknown audience and missing grant are invalid_target", async () => {
    const f = await fixture();
    const other = await createApiServer(t);
    for (const audience of ["https://nope.example.com", other.identifier, ""]) {
      const err = await rpcError(issue({ client: f.auth, audience }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(reason(err)).toBe("invalid_target");
    }
  });

  test("enforce_policies refuses scopes outside the grant; without it they are dropped", async () => {
    const strict = await fixture({ enforcePolicies: true }, ["orders:read"]);
    const err = await rpcError(issue({ client: strict.auth, audience: strict.server.identifier, scope: "orders:read orders:write" }));
    expect(reason(err)).toBe("invalid_scope");
    const ok = await issue({ client: strict.auth, audience: strict.server.identifier, scope: "orders:read" });
    expect(ok.scope).toBe("orders:read");

    const lax = await fixture({ enforcePolicies: false }, ["orders:read"]);
    const dropped = await issue({ client: lax.auth, audience: lax.server.identifier, scope: "orders:read orders:write" });
    expect(dropped.scope).toBe("orders:read");
    expect((await verify(dropped.accessToken)).payload.scope).toBe("orders:read");
    const bad = await rpcError(issue({ client: lax.auth, audience: lax.server.identifier, scope: 'orders:"read' }));
    expect(reason(bad)).toBe("invalid_scope");
  });

  test("wrong secret, unknown client and a disabled client are invalid_client (UNAUTHENTICATED)", async () => {
    const f = await fixture();
    for (const auth of [{ ...f.auth, clientSecret: "wrong" }, { clientId: "cl_unknown", clientSecret: f.secret }, {}]) {
      const err = await rpcError(issue({ client: auth, audience: f.server.identifier }));
      expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(err.details).not.toContain(f.secret);
    }
    await t.clients.clients.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: f.client.clientId, disabled: true }, updateMask: ["disabled"] }));
    const disabled = await rpcError(issue({ client: f.auth, audience: f.server.identifier }));
    expect(disabled.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  test("unsupported grant type and a grant type the client may not use", async () => {
    const f = await fixture();
    const unsupported = await rpcError(issue({ client: f.auth, grantType: "password", audience: f.server.identifier }));
    expect(reason(unsupported)).toBe("unsupported_grant_type");
    const notAllowed = await rpcError(issue({ client: f.auth, grantType: "refresh_token", refreshToken: "rt_x" }));
    expect(notAllowed.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(reason(notAllowed)).toBe("unauthorized_client");
  });

  test("typed callers send secrets as fields or Basic metadata, whichever secret method the client registered", async () => {
    const f = await fixture({}, ["orders:read"], { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC });
    const viaFields = await issue({ client: f.auth, audience: f.server.identifier });
    expect(viaFields.accessToken).toBeTruthy();
    const md = new grpc.Metadata();
    md.set("authorization", basic(f.client.clientId, f.secret));
    const res = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ audience: f.server.identifier }), md);
    expect(res.accessToken).toBeTruthy();
  });
});

describe("the HTTP-shaped token endpoint", () => {
  test("form body with Basic auth: 200, RFC body, no-store", async () => {
    const f = await fixture({}, ["orders:read"], { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC });
    const res = await oauthCall(t.address, "token", { ...form({ grant_type: "client_credentials", audience: f.server.identifier }), authorization: basic(f.client.clientId, f.secret) });
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.headers["pragma"]).toBe("no-cache");
    expect(res.json).toMatchObject({ token_type: "Bearer", expires_in: 86_400, scope: "orders:read" });
    expect(typeof res.json.expires_in).toBe("number");
    await verify(res.json.access_token);
  });

  test("JSON body with client_secret_post", async () => {
    const f = await fixture();
    const res = await oauthCall(t.address, "token", {
      contentType: "application/json; charset=utf-8",
      body: JSON.stringify({ grant_type: "client_credentials", client_id: f.client.clientId, client_secret: f.secret, audience: f.server.identifier }),
    });
    expect(res.status).toBe(200);
    await verify(res.json.access_token);
  });

  test("either secret method carries the secret: a Basic client may send it in the body, a post client in Basic (one method per request)", async () => {
    const basicClient = await fixture({}, ["orders:read"], { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC });
    const inBody = await oauthCall(t.address, "token", form({ grant_type: "client_credentials", audience: basicClient.server.identifier, client_id: basicClient.client.clientId, client_secret: basicClient.secret }));
    expect(inBody.status).toBe(200);
    const postClient = await fixture({}, ["orders:read"], { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST });
    const viaHeader = await oauthCall(t.address, "token", { ...form({ grant_type: "client_credentials", audience: postClient.server.identifier }), authorization: basic(postClient.client.clientId, postClient.secret) });
    expect(viaHeader.status).toBe(200);
    // The registered method is still what the client reports.
    expect((await t.clients.clients.getClient({ clientId: basicClient.client.clientId })).client!.tokenEndpointAuthMethod).toBe(TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC);
    // A wrong secret in the body: 401 without a challenge (RFC 6749 §5.2: only the Authorization header earns one).
    const wrong = await oauthCall(t.address, "token", form({ grant_type: "client_credentials", audience: basicClient.server.identifier, client_id: basicClient.client.clientId, client_secret: "nope" }));
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toBe("invalid_client");
    expect(wrong.headers["www-authenticate"]).toBeUndefined();
  });

  test("failed Basic authentication: 401 with WWW-Authenticate", async () => {
    const f = await fixture({}, ["orders:read"], { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC });
    const res = await oauthCall(t.address, "token", { ...form({ grant_type: "client_credentials", audience: f.server.identifier }), authorization: basic(f.client.clientId, "wrong") });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Basic /);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.json).toEqual({ error: "invalid_client", error_description: "client authentication failed" });
  });

  test.each([
    ["missing grant_type", form({ audience: "x" }), "invalid_request", 400],
    ["unsupported grant type", form({ grant_type: "password" }), "unsupported_grant_type", 400],
    ["repeated parameter", { contentType: "application/x-www-form-urlencoded", body: "grant_type=client_credentials&grant_type=client_credentials" }, "invalid_request", 400],
    ["malformed JSON", { contentType: "application/json", body: "{nope" }, "invalid_request", 400],
    ["non-string JSON value", { contentType: "application/json", body: '{"grant_type":5}' }, "invalid_request", 400],
    ["wrong content type", { contentType: "text/plain", body: "grant_type=client_credentials" }, "invalid_request", 400],
    ["broken percent-encoding", { contentType: "application/x-www-form-urlencoded", body: "grant_type=%E0%A4%A" }, "invalid_request", 400],
    ["invalid UTF-8", { contentType: "application/x-www-form-urlencoded", body: Buffer.from([0x67, 0x3d, 0xff, 0xfe]) }, "invalid_request", 400],
    ["no client authentication", form({ grant_type: "client_credentials", audience: "x" }), "invalid_client", 401],
  ])("%s", async (_name, request, error, status) => {
    const res = await oauthCall(t.address, "token", request);
    expect(res.status).toBe(status);
    expect(res.json.error).toBe(error);
    expect(res.headers["cache-control"]).toBe("no-store");
  });

  test("two client authentication methods at once -> invalid_request", async () => {
    const f = await fixture();
    const res = await oauthCall(t.address, "token", {
      ...form({ grant_type: "client_credentials", client_id: f.client.clientId, client_secret: f.secret, audience: f.server.identifier }),
      authorization: basic(f.client.clientId, f.secret),
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe("invalid_request");
  });
});

describe("private_key_jwt (RFC 7523)", () => {
  test("a signed assertion authenticates once; replay and wrong audience are refused", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const f = await fixture({}, ["orders:read"], { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT, jwks: { keys: [jwk] } });
    const now = Math.floor(t.clock.now() / 1000);
    const assertion = (aud: string, jti: string) =>
      new SignJWT({ jti }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(f.client.clientId).setSubject(f.client.clientId).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 60).sign(privateKey);
    const auth = async (aud: string, jti: string) => ({
      clientId: f.client.clientId,
      clientAssertionType: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      clientAssertion: await assertion(aud, jti),
    });
    const first = await auth(`${issuer}/oauth/token`, "a1");
    const res = await issue({ client: first, audience: f.server.identifier });
    await verify(res.accessToken);
    const replay = await rpcError(issue({ client: first, audience: f.server.identifier }));
    expect(replay.code).toBe(grpc.status.UNAUTHENTICATED);
    const wrongAud = await rpcError(issue({ client: await auth("https://elsewhere.example.com", "a2"), audience: f.server.identifier }));
    expect(wrongAud.code).toBe(grpc.status.UNAUTHENTICATED);
    const secretInstead = await rpcError(issue({ client: { clientId: f.client.clientId, clientSecret: f.secret }, audience: f.server.identifier }));
    expect(secretInstead.code).toBe(grpc.status.UNAUTHENTICATED);
  });
});

describe("introspection (RFC 7662)", () => {
  test("active token details; caller must hold tokens:introspect and see the audience", async () => {
    const f = await fixture({ tokenDialect: TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ }, ["orders:read"]);
    const { accessToken } = await issue({ client: f.auth, audience: f.server.identifier });
    const caller = await introspector(f.server.id);
    const res = await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: caller, token: accessToken }));
    expect(res).toMatchObject({ active: true, clientId: f.client.clientId, sub: f.client.clientId, aud: [f.server.identifier], iss: issuer, scope: "orders:read", tokenType: "Bearer", permissions: ["orders:read"] });
    expect(res.exp - res.iat).toBe(86_400);

    // The token's own client has no tokens:introspect: refused as a caller, told what it lacks (not "bad credentials").
    const notAllowed = await rpcError(t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: f.auth, token: accessToken })));
    expect(notAllowed.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(notAllowed.details).toContain("tokens:introspect");
    // A caller for another API server sees it as inactive.
    const other = await introspector((await createApiServer(t)).id);
    const hidden = await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: other, token: accessToken }));
    expect(hidden).toMatchObject({ active: false, clientId: "", scope: "" });
  });

  test("HTTP shape: numbers are numbers, inactive is just {active:false}", async () => {
    const f = await fixture();
    const { accessToken } = await issue({ client: f.auth, audience: f.server.identifier });
    const caller = await introspector(f.server.id);
    const res = await oauthCall(t.address, "introspect", form({ token: accessToken, client_id: caller.clientId, client_secret: caller.clientSecret }));
    expect(res.status).toBe(200);
    expect(res.json.active).toBe(true);
    expect(typeof res.json.exp).toBe("number");
    const garbage = await oauthCall(t.address, "introspect", form({ token: "not.a.jwt", client_id: caller.clientId, client_secret: caller.clientSecret }));
    expect(garbage.json).toEqual({ active: false });
    const unauthenticated = await oauthCall(t.address, "introspect", form({ token: accessToken }));
    expect(unauthenticated.status).toBe(401);
  });

  test("reflects live state: revoke, grant deleted, client deleted, API server deleted, secret rotated without grace, expiry", async () => {
    const cases: Array<[string, (f: Awaited<ReturnType<typeof fixture>>, token: string) => Promise<void>]> = [
      ["revoked", async (f, token) => void (await t.clients.tokens.revokeToken(RevokeTokenRequest.fromPartial({ client: f.auth, token })))],
      ["grant deleted", async (f) => void (await t.clients.grants.deleteGrant({ id: f.grant.id, etag: "" }))],
      ["client disabled", async (f) => void (await t.clients.clients.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: f.client.clientId, disabled: true }, updateMask: ["disabled"] })))],
      ["client deleted", async (f) => void (await t.clients.clients.deleteClient({ clientId: f.client.clientId, etag: "" }))],
      ["API server deleted", async (f) => void (await t.clients.apiServers.deleteApiServer({ id: f.server.id, etag: "" }))],
      ["secret rotated without grace", async (f) => void (await t.clients.clients.rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: f.client.clientId, gracePeriodSeconds: 0 })))],
    ];
    for (const [name, change] of cases) {
      const f = await fixture();
      const caller = await introspector(f.server.id);
      const { accessToken } = await issue({ client: f.auth, audience: f.server.identifier });
      const before = await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: caller, token: accessToken }));
      expect(before.active, name).toBe(true);
      clock().advance(1); // the change happens after issuance
      await change(f, accessToken);
      const after = await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: caller, token: accessToken }));
      expect(after.active, name).toBe(false);
    }
    const f = await fixture({ tokenLifetimeSeconds: 60 });
    const caller = await introspector(f.server.id);
    const { accessToken } = await issue({ client: f.auth, audience: f.server.identifier });
    clock().advance(61);
    const expired = await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: caller, token: accessToken }));
    expect(expired.active).toBe(false);
  });
});

test("revocation without grace is exact to the millisecond: older tokens die, tokens issued right after live", async () => {
  const f = await fixture();
  const caller = await introspector(f.server.id);
  const active = async (token: string) => (await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: caller, token }))).active;
  const before = (await issue({ client: f.auth, audience: f.server.identifier })).accessToken;
  clock().advance(0.2); // same second, 200 ms later
  const rotated = await t.clients.clients.rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: f.client.clientId, gracePeriodSeconds: 0 }));
  clock().advance(0.2);
  const after = (await issue({ client: { clientId: f.client.clientId, clientSecret: rotated.clientSecret }, audience: f.server.identifier })).accessToken;
  expect(await active(before)).toBe(false);
  expect(await active(after)).toBe(true);
});

describe("revocation (RFC 7009)", () => {
  test("200 for unknown tokens and other clients' tokens (no-op); bad hint is unsupported_token_type", async () => {
    const f = await fixture();
    const g = await fixture();
    const { accessToken } = await issue({ client: f.auth, audience: f.server.identifier });
    const unknown = await oauthCall(t.address, "revoke", form({ token: "whatever", client_id: f.client.clientId, client_secret: f.secret }));
    expect(unknown.status).toBe(200);
    expect(unknown.body).toBe("");
    const foreign = await oauthCall(t.address, "revoke", form({ token: accessToken, client_id: g.client.clientId, client_secret: g.secret }));
    expect(foreign.status).toBe(200);
    const caller = await introspector(f.server.id);
    expect((await t.clients.tokens.introspectToken(IntrospectTokenRequest.fromPartial({ client: caller, token: accessToken }))).active).toBe(true);
    const hint = await oauthCall(t.address, "revoke", form({ token: accessToken, token_type_hint: "id_token", client_id: f.client.clientId, client_secret: f.secret }));
    expect(hint.status).toBe(400);
    expect(hint.json.error).toBe("unsupported_token_type");
    const badAuth = await oauthCall(t.address, "revoke", form({ token: accessToken, client_id: f.client.clientId, client_secret: "nope" }));
    expect(badAuth.status).toBe(401);
  });
});

describe("refresh tokens", () => {
  test("only with offline access and the grant type; rotated on use; reuse revokes the family", async () => {
    const noOffline = await fixture({}, ["orders:read"], { grantTypes: ["client_credentials", "refresh_token"] });
    expect((await issue({ client: noOffline.auth, audience: noOffline.server.identifier })).refreshToken).toBe("");

    const f = await fixture({ allowOfflineAccess: true, refreshTokenLifetimeSeconds: 3600 }, ["orders:read", "orders:write"], { grantTypes: ["client_credentials", "refresh_token"] });
    const first = await issue({ client: f.auth, audience: f.server.identifier });
    expect(first.refreshToken).toMatch(/^rt_/);
    const second = await issue({ client: f.auth, grantType: "refresh_token", refreshToken: first.refreshToken, scope: "orders:read" });
    expect(second.scope).toBe("orders:read");
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await verify(second.accessToken);
    const widen = await rpcError(issue({ client: f.auth, grantType: "refresh_token", refreshToken: second.refreshToken, scope: "orders:delete" }));
    expect(reason(widen)).toBe("invalid_scope");

    const reuse = await rpcError(issue({ client: f.auth, grantType: "refresh_token", refreshToken: first.refreshToken }));
    expect(reason(reuse)).toBe("invalid_grant");
    // The family is gone: even the newest refresh token no longer works.
    const family = await rpcError(issue({ client: f.auth, grantType: "refresh_token", refreshToken: second.refreshToken }));
    expect(reason(family)).toBe("invalid_grant");
  });

  test("one refresh token presented twice at once: one of the two gets tokens, the other is reuse, and the family (with the winner's new token) is revoked", async () => {
    const f = await fixture({ allowOfflineAccess: true, refreshTokenLifetimeSeconds: 3600 }, ["orders:read"], { grantTypes: ["client_credentials", "refresh_token"] });
    const { refreshToken } = await issue({ client: f.auth, audience: f.server.identifier });
    const outcomes = await Promise.allSettled([0, 1].map(() => issue({ client: f.auth, grantType: "refresh_token", refreshToken })));
    const won = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    expect(won).toHaveLength(1);
    const lost = outcomes.find((o) => o.status === "rejected")!;
    expect(reason(lost.reason as Parameters<typeof reason>[0])).toBe("invalid_grant");
    expect(reason(await rpcError(issue({ client: f.auth, grantType: "refresh_token", refreshToken: won[0]!.refreshToken })))).toBe("invalid_grant");
  });

  test("audience or resource on a refresh must name the refresh token's API server: another, an unknown one or a contradiction is invalid_target, and spends nothing", async () => {
    const opts = [{ allowOfflineAccess: true, refreshTokenLifetimeSeconds: 3600 }, ["orders:read"], { grantTypes: ["client_credentials", "refresh_token"] }] as const;
    const f = await fixture(opts[0], [...opts[1]], opts[2]);
    const other = await fixture(opts[0], [...opts[1]], opts[2]);
    const { refreshToken } = await issue({ client: f.auth, audience: f.server.identifier });
    for (const target of [{ audience: other.server.identifier }, { resource: "https://nowhere.example" }, { audience: f.server.identifier, resource: other.server.identifier }]) {
      expect(reason(await rpcError(issue({ client: f.auth, grantType: "refresh_token", refreshToken, ...target }))), JSON.stringify(target)).toBe("invalid_target");
    }
    const same = await issue({ client: f.auth, grantType: "refresh_token", refreshToken, resource: f.server.identifier });
    expect(decodeJwt(same.accessToken).aud).toBe(f.server.identifier);
  });

  test("another client's refresh token and an expired one are invalid_grant", async () => {
    const opts = [{ allowOfflineAccess: true, refreshTokenLifetimeSeconds: 120 }, ["orders:read"], { grantTypes: ["client_credentials", "refresh_token"] }] as const;
    const f = await fixture(opts[0], [...opts[1]], opts[2]);
    const g = await fixture(opts[0], [...opts[1]], opts[2]);
    const { refreshToken } = await issue({ client: f.auth, audience: f.server.identifier });
    expect(reason(await rpcError(issue({ client: g.auth, grantType: "refresh_token", refreshToken })))).toBe("invalid_grant");
    clock().advance(121);
    expect(reason(await rpcError(issue({ client: f.auth, grantType: "refresh_token", refreshToken })))).toBe("invalid_grant");
  });
});

describe("metadata, JWKS and registration", () => {
  test("RFC 8414 metadata names the endpoints and what is supported", async () => {
    const res = await oauthCall(t.address, "getServerMetadata");
    expect(res.json).toMatchObject({
      issuer,
      token_endpoint: `${issuer}/oauth/token`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      registration_endpoint: `${issuer}/oauth/register`,
      grant_types_supported: ["client_credentials", "refresh_token"],
    });
    expect(res.json.token_endpoint_auth_methods_supported).toEqual(["client_secret_basic", "client_secret_post", "private_key_jwt"]);
  });

  test("JWKS is cacheable and has public keys only", async () => {
    const res = await oauthCall(t.address, "getJwks");
    expect(res.headers["cache-control"]).toMatch(/max-age=\d+/);
    expect(res.json.keys.length).toBeGreaterThanOrEqual(3);
    for (const key of res.json.keys) expect(key.d).toBeUndefined();
  });

  test("registration needs the initial access token; creates a dynamic client that reaches only dynamic-access API servers", async () => {
    const body = JSON.stringify({ client_name: "mcp agent", grant_types: ["client_credentials"], redirect_uris: ["https://ignored.example"] });
    const denied = await oauthCall(t.address, "register", { contentType: "application/json", body });
    expect(denied.status).toBe(401);
    expect(denied.json.error).toBe("invalid_token");
    const res = await oauthCall(t.address, "register", { contentType: "application/json", body, authorization: `Bearer ${REGISTRATION_TOKEN}` });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ client_name: "mcp agent", token_endpoint_auth_method: "client_secret_basic", grant_types: ["client_credentials"] });
    expect(res.json.redirect_uris).toBeUndefined();
    const { client } = await t.clients.clients.getClient({ clientId: res.json.client_id });
    expect(client?.dynamic).toBe(true);

    const open = await createApiServer(t, { dynamicClientAccess: true, dynamicClientScopes: ["orders:read"] });
    const closed = await createApiServer(t);
    const md = new grpc.Metadata();
    md.set("authorization", basic(res.json.client_id, res.json.client_secret));
    const token = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ audience: open.identifier }), md);
    expect(token.scope).toBe("orders:read");
    const refused = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ audience: closed.identifier }), md));
    expect(reason(refused)).toBe("invalid_target");

    const bad = await oauthCall(t.address, "register", { contentType: "application/json", body: JSON.stringify({ grant_types: ["authorization_code"] }), authorization: `Bearer ${REGISTRATION_TOKEN}` });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe("invalid_client_metadata");
  });

  test("registration with an unusable jwks is invalid_client_metadata", async () => {
    const body = JSON.stringify({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [{ kty: "EC", crv: "P-256", x: "bad", y: "bad" }] } });
    const res = await oauthCall(t.address, "register", { contentType: "application/json", body, authorization: `Bearer ${REGISTRATION_TOKEN}` });
    expect(res.status).toBe(400);
    expect(res.json.error).toBe("invalid_client_metadata");
    expect(res.json.error_description).toContain("client.jwks.keys[0]");
  });

  test("registration off: 404 and no registration_endpoint in metadata", async () => {
    const off = await startTestServer({ config: { issuer } });
    try {
      const res = await oauthCall(off.address, "register", { contentType: "application/json", body: "{}" });
      expect(res.status).toBe(404);
      const meta = await oauthCall(off.address, "getServerMetadata");
      expect(meta.json.registration_endpoint).toBeUndefined();
    } finally {
      await off.cleanup();
    }
  });
});

test("API server update removing a granted scope narrows new tokens", async () => {
  const f = await fixture({}, ["orders:read", "orders:write"]);
  await t.clients.apiServers.updateApiServer(
    UpdateApiServerRequest.fromPartial({ apiServer: { id: f.server.id, permissions: [{ value: "orders:read" }] }, updateMask: ["permissions"] }),
  );
  const res = await issue({ client: f.auth, audience: f.server.identifier });
  expect(res.scope).toBe("orders:read");
});
