import * as grpc from "@grpc/grpc-js";
import { exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UpdateApiServerRequest } from "../gen/authz/v1/api_server.js";
import { Client, CreateClientRequest, RotateClientSecretRequest, TokenEndpointAuthMethod, UpdateClientRequest } from "../gen/authz/v1/client.js";
import { CreateGrantRequest, UpdateGrantRequest } from "../gen/authz/v1/grant.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import type { ManualClock } from "../src/clock.js";
import { ClientAuthFailed } from "../src/domain/clients.js";
import { violatedFields } from "./helpers/errors.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.cleanup());

const clients = () => t.clients.clients;
const grants = () => t.clients.grants;
const clock = () => t.clock as ManualClock;
/** Verifies a secret the way the token endpoint does. */
const authenticate = (clientId: string, secret: string) => t.server.domain.clients.authenticateSecret(clientId, secret);
const refused = (clientId: string, secret: string) => expect(() => authenticate(clientId, secret)).toThrow(ClientAuthFailed);

describe("clients", () => {
  test("create returns a 256-bit secret once; get and list never return it", async () => {
    const { client, secret } = await createClient(t, { description: "billing", metadata: { team: "billing" } });
    expect(client.clientId).toMatch(/^cl_[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
    expect(client).toMatchObject({ dynamic: false, disabled: false, grantTypes: ["client_credentials"], metadata: { team: "billing" } });
    expect(client.secrets).toHaveLength(1);
    const got = await clients().getClient({ clientId: client.clientId });
    const listed = await clients().listClients({ pageSize: 500, pageToken: "", filter: "" });
    for (const message of [Client.toJSON(got.client!), ...listed.clients.map((c) => Client.toJSON(c))]) expect(JSON.stringify(message)).not.toContain(secret);
    expect(JSON.stringify(Client.toJSON(got.client!))).not.toContain(Buffer.from(secret).toString("hex").slice(0, 16));
    expect(authenticate(client.clientId, secret).clientId).toBe(client.clientId);
    refused(client.clientId, `${secret}x`);
    refused("cl_unknown", secret);
  });

  test("update with a mask; etag conflicts; output-only paths refused", async () => {
    const { client } = await createClient(t);
    const { client: updated } = await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "renamed", description: "not in mask" }, updateMask: ["name"] }));
    expect(updated).toMatchObject({ name: "renamed", description: "" });
    expect((await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "x", etag: client.etag }, updateMask: ["name"] })))).code).toBe(grpc.status.ABORTED);
    const out = await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId }, updateMask: ["client_id", "secrets"] })));
    expect(violatedFields(out)).toEqual(["update_mask", "update_mask"]);
  });

  test.each<[string, Partial<Client>, string]>([
    ["empty name", { name: "" }, "client.name"],
    ["long description", { description: "x".repeat(2001) }, "client.description"],
    ["unknown auth method", { tokenEndpointAuthMethod: 9 as TokenEndpointAuthMethod }, "client.token_endpoint_auth_method"],
    ["unknown grant type", { grantTypes: ["password"] }, "client.grant_types[0]"],
    ["too many metadata entries", { metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"])) }, "client.metadata"],
    ["metadata value too long", { metadata: { k: "v".repeat(513) } }, 'client.metadata["k"]'],
    ["private_key_jwt without jwks", { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT }, "client.jwks"],
    ["jwks that is not a set", { jwks: { kty: "EC" } }, "client.jwks"],
    ["jwks with a private key", { jwks: { keys: [{ kty: "EC", crv: "P-256", x: "a", y: "b", d: "secret" }] } }, "client.jwks.keys[0]"],
    ["jwks with an unusable key", { jwks: { keys: [{ kty: "EC", crv: "P-256", x: "bad", y: "bad" }] } }, "client.jwks.keys[0]"],
  ])("%s -> %s", async (_name, fields, field) => {
    const before = (await clients().listClients({ pageSize: 500, pageToken: "", filter: "" })).clients.length;
    const err = await rpcError(clients().createClient(CreateClientRequest.fromPartial({ client: { name: "c", ...fields } })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(err)).toContain(field);
    expect((await clients().listClients({ pageSize: 500, pageToken: "", filter: "" })).clients.length).toBe(before);
  });

  test("a private_key_jwt client registers public keys", async () => {
    const { publicKey } = await generateKeyPair("ES256");
    const jwk = await exportJWK(publicKey);
    const { client } = await createClient(t, { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT, jwks: { keys: [jwk] } });
    expect(client.jwks).toEqual({ keys: [jwk] });
  });

  test("rotation with a grace period: both secrets work, then only the new one; at most two live", async () => {
    const { client, secret: first } = await createClient(t);
    const r1 = await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 300 }));
    const second = r1.clientSecret;
    expect(r1.client!.secrets).toHaveLength(2);
    expect(r1.client!.secrets.find((s) => s.expireTime)).toBeDefined();
    authenticate(client.clientId, first);
    authenticate(client.clientId, second);
    const r2 = await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 300 }));
    expect(r2.client!.secrets).toHaveLength(2); // the oldest was dropped
    refused(client.clientId, first);
    authenticate(client.clientId, second);
    clock().advance(301);
    refused(client.clientId, second);
    authenticate(client.clientId, r2.clientSecret);
  });

  test("rotation without grace revokes the old secret at once and every earlier token", async () => {
    const { client, secret } = await createClient(t);
    const before = t.server.domain.clients.get(client.clientId).tokensValidAfter;
    clock().advance(1);
    const r = await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 0 }));
    refused(client.clientId, secret);
    authenticate(client.clientId, r.clientSecret);
    expect(r.client!.secrets).toHaveLength(1);
    expect(t.server.domain.clients.get(client.clientId).tokensValidAfter).toBeGreaterThan(before);
    const bad = await rpcError(clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 2_592_001 })));
    expect(violatedFields(bad)).toEqual(["grace_period_seconds"]);
  });

  test("a disabled or deleted client cannot authenticate", async () => {
    const { client, secret } = await createClient(t);
    await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, disabled: true }, updateMask: ["disabled"] }));
    refused(client.clientId, secret);
    await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, disabled: false }, updateMask: ["disabled"] }));
    authenticate(client.clientId, secret);
    await clients().deleteClient({ clientId: client.clientId, etag: "" });
    refused(client.clientId, secret);
    expect((await rpcError(clients().getClient({ clientId: client.clientId }))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("pagination and filters", async () => {
    const tag = `p${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 105; i++) ids.push((await createClient(t, { name: tag })).client.clientId);
    await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: ids[3]!, disabled: true }, updateMask: ["disabled"] }));
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await clients().listClients({ pageSize: 10, pageToken, filter: `name = "${tag}"` });
      seen.push(...page.clients.map((c) => c.clientId));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(ids);
    const disabled = await clients().listClients({ pageSize: 0, pageToken: "", filter: `name = "${tag}" AND disabled = true` });
    expect(disabled.clients.map((c) => c.clientId)).toEqual([ids[3]]);
    expect(violatedFields(await rpcError(clients().listClients({ pageSize: 0, pageToken: "", filter: 'disabled = "yes"' })))).toEqual(["filter"]);
  });
});

describe("grants", () => {
  test("the life of a grant; one per (client, API server)", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    const g = await grant(t, client.clientId, s.id, ["orders:read"]);
    expect(g.id).toMatch(/^gr_/);
    expect((await grants().getGrant({ id: g.id })).grant).toEqual(g);
    expect((await rpcError(grant(t, client.clientId, s.id, []))).code).toBe(grpc.status.ALREADY_EXISTS);
    const { grant: u } = await grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, scopes: ["orders:read", "orders:write"] }, updateMask: ["scopes"] }));
    expect(u!.scopes).toEqual(["orders:read", "orders:write"]);
    expect((await rpcError(grants().updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: g.id, clientId: "cl_x" }, updateMask: ["client_id"] })))).code).toBe(grpc.status.INVALID_ARGUMENT);
    await grants().deleteGrant({ id: g.id, etag: u!.etag });
    expect((await rpcError(grants().getGrant({ id: g.id }))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("validation names unknown scopes, clients and API servers", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    const unknown = await rpcError(grant(t, client.clientId, s.id, ["orders:read", "orders:fly", "x:y"]));
    expect(violatedFields(unknown)).toEqual(["grant.scopes[1]", "grant.scopes[2]"]);
    const missing = await rpcError(grants().createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: "cl_nope", apiServerId: "as_nope" } })));
    expect(violatedFields(missing)).toEqual(["grant.client_id", "grant.api_server_id"]);
    const both = await rpcError(grant(t, client.clientId, s.id, ["orders:read"], true));
    expect(violatedFields(both)).toEqual(["grant.scopes"]);
  });

  test("allow_all_scopes covers current and future permissions", async () => {
    const s = await createApiServer(t);
    const { client } = await createClient(t);
    await grant(t, client.clientId, s.id, [], true);
    const c = t.server.domain.clients.get(client.clientId);
    expect(t.server.domain.grants.resolveAccess(c, t.server.domain.apiServers.get(s.id))!.scopes).toEqual(["orders:read", "orders:write", "orders:delete"]);
    await t.clients.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: s.id, permissions: [{ value: "orders:read" }, { value: "orders:audit" }] }, updateMask: ["permissions"] }));
    expect(t.server.domain.grants.resolveAccess(c, t.server.domain.apiServers.get(s.id))!.scopes).toEqual(["orders:read", "orders:audit"]);
  });

  test("removing a permission from an API server removes it from every grant", async () => {
    const s = await createApiServer(t);
    const a = await createClient(t);
    const b = await createClient(t);
    const ga = await grant(t, a.client.clientId, s.id, ["orders:read", "orders:write"]);
    const gb = await grant(t, b.client.clientId, s.id, ["orders:write"]);
    await t.clients.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: s.id, permissions: [{ value: "orders:read" }] }, updateMask: ["permissions"] }));
    expect((await grants().getGrant({ id: ga.id })).grant!.scopes).toEqual(["orders:read"]);
    expect((await grants().getGrant({ id: gb.id })).grant!.scopes).toEqual([]);
    expect((await grants().getGrant({ id: gb.id })).grant!.etag).not.toBe(gb.etag);
  });

  test("deleting an API server or a client deletes its grants", async () => {
    const s1 = await createApiServer(t);
    const s2 = await createApiServer(t);
    const { client } = await createClient(t);
    const g1 = await grant(t, client.clientId, s1.id, []);
    const g2 = await grant(t, client.clientId, s2.id, []);
    await t.clients.apiServers.deleteApiServer({ id: s1.id, etag: "" });
    expect((await rpcError(grants().getGrant({ id: g1.id }))).code).toBe(grpc.status.NOT_FOUND);
    await clients().deleteClient({ clientId: client.clientId, etag: "" });
    expect((await rpcError(grants().getGrant({ id: g2.id }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await grants().listGrants({ pageSize: 0, pageToken: "", clientId: client.clientId, apiServerId: "" })).grants).toEqual([]);
  });

  test("list by client, by API server, or both, paginated; a page token is bound to its selection", async () => {
    const s = await createApiServer(t);
    const ids: string[] = [];
    const clientIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { client } = await createClient(t);
      clientIds.push(client.clientId);
      ids.push((await grant(t, client.clientId, s.id, [])).id);
    }
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await grants().listGrants({ pageSize: 5, pageToken, clientId: "", apiServerId: s.id });
      seen.push(...page.grants.map((g) => g.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(ids);
    const one = await grants().listGrants({ pageSize: 0, pageToken: "", clientId: clientIds[4]!, apiServerId: s.id });
    expect(one.grants.map((g) => g.id)).toEqual([ids[4]]);
    const first = await grants().listGrants({ pageSize: 5, pageToken: "", clientId: "", apiServerId: s.id });
    expect(violatedFields(await rpcError(grants().listGrants({ pageSize: 5, pageToken: first.nextPageToken, clientId: clientIds[0]!, apiServerId: "" })))).toEqual(["page_token"]);
  });

  test("dynamic client access: only dynamic clients, only where enabled, with the API server's scopes; a grant wins", async () => {
    const open = await createApiServer(t, { dynamicClientAccess: true, dynamicClientScopes: ["orders:read"] });
    const closed = await createApiServer(t);
    const { domain } = t.server;
    const dynamic = await domain.clients.create({ name: "dyn", description: "", type: undefined, tokenEndpointAuthMethod: undefined, grantTypes: [], disabled: false, metadata: {}, jwks: undefined }, { dynamic: true });
    const regular = domain.clients.get((await createClient(t)).client.clientId);
    expect(domain.grants.resolveAccess(dynamic.client, domain.apiServers.get(open.id))).toEqual({ scopes: ["orders:read"] });
    expect(domain.grants.resolveAccess(dynamic.client, domain.apiServers.get(closed.id))).toBeUndefined();
    expect(domain.grants.resolveAccess(regular, domain.apiServers.get(open.id))).toBeUndefined();
    await grant(t, dynamic.client.clientId, open.id, ["orders:write"]);
    expect(domain.grants.resolveAccess(dynamic.client, domain.apiServers.get(open.id))).toEqual({ scopes: ["orders:write"] });
    expect((await clients().getClient({ clientId: dynamic.client.clientId })).client!.dynamic).toBe(true);
  });
});

test("clients, secrets and grants survive a restart", async () => {
  const s = await createApiServer(t);
  const { client, secret } = await createClient(t);
  const g = await grant(t, client.clientId, s.id, ["orders:read"]);
  for (let i = 0; i < 2; i++) await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: secret }, audience: s.identifier }));
  await t.stop(); // flushes the in-memory issuance counters
  t = await startTestServer({ dataFile: t.dataFile, kek: t.kek, config: { adminClientId: t.adminClientId, adminClientSecret: t.adminClientSecret } });
  expect((await grants().getGrant({ id: g.id })).grant).toEqual(g);
  expect(authenticate(client.clientId, secret).clientId).toBe(client.clientId);
  expect((await clients().getClient({ clientId: client.clientId })).client!.usage?.tokensIssued).toBe(2);
});
