import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UpdateApiServerRequest } from "../../gen/authz/v1/api_server.js";
import { RotateClientSecretRequest, TokenEndpointAuthMethod, UpdateClientRequest } from "../../gen/authz/v1/client.js";
import { CreateGrantRequest, UpdateGrantRequest } from "../../gen/authz/v1/grant.js";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";
import { MANAGEMENT_API_SERVER_ID, MANAGEMENT_AUDIENCE } from "../../src/domain/constants.js";
import { createClient } from "../helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "../helpers/server.js";
import { managementToken, operator } from "./helpers.js";

/**
 * A management permission is a ceiling: no call gives any client (the caller
 * included) a management permission the caller lacks, or removes the last
 * full administrator. Each case below was a 200 before the fix.
 */
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ config: { registrationEnabled: true, registrationOpen: true } });
});
afterAll(() => t.cleanup());

const admin = () => t.adminClientId;

describe("clients:write cannot take over a client that holds more (issue 10, item 1)", () => {
  test("rotating the admin's secret, with or without grace, is PERMISSION_DENIED and the old secret keeps working alone", async () => {
    const writer = await operator(t, ["clients:write", "clients:read"]);
    for (const grace of [2_592_000, 0]) {
      const err = await rpcError(writer.api.clients.rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: admin(), gracePeriodSeconds: grace })));
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.details).toMatch(/holds management permissions the caller lacks/);
    }
    const { client } = await t.clients.clients.getClient({ clientId: admin() });
    expect(client!.secrets).toHaveLength(1);
    expect(await managementToken(t, admin(), t.adminClientSecret)).toBeTruthy();
  });

  test("deleting, disabling or re-keying the admin is PERMISSION_DENIED; the admin still works", async () => {
    const writer = await operator(t, ["clients:write"]);
    expect((await rpcError(writer.api.clients.deleteClient({ clientId: admin(), etag: "" }))).code).toBe(grpc.status.PERMISSION_DENIED);
    for (const [client, mask] of [
      [{ clientId: admin(), disabled: true }, ["disabled"]],
      [{ clientId: admin(), tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT, jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] } }, ["token_endpoint_auth_method", "jwks"]],
      [{ clientId: admin(), name: "pwned" }, ["name"]],
    ] as const) {
      const err = await rpcError(writer.api.clients.updateClient(UpdateClientRequest.fromPartial({ client, updateMask: [...mask] })));
      expect(err.code, mask.join()).toBe(grpc.status.PERMISSION_DENIED);
    }
    expect((await t.clients.clients.getClient({ clientId: admin() })).client!).toMatchObject({ disabled: false, name: "admin" });
    expect(await managementToken(t, admin(), t.adminClientSecret)).toBeTruthy();
  });

  test("a caller may still manage clients that hold no more than it does", async () => {
    const writer = await operator(t, ["clients:write"]);
    const { client } = await createClient(t);
    await writer.api.clients.rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 0 }));
    await writer.api.clients.deleteClient({ clientId: client.clientId, etag: "" });
    // Its own peer with the same single permission is within reach too.
    const peer = await operator(t, ["clients:write"]);
    await writer.api.clients.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: peer.clientId, disabled: true }, updateMask: ["disabled"] }));
  });

  test("the last enabled full administrator cannot be deleted or disabled, even by itself; with a second one it can", async () => {
    const self = t.clients.clients; // the admin's own token
    const lastDelete = await rpcError(self.deleteClient({ clientId: admin(), etag: "" }));
    expect(lastDelete.code).toBe(grpc.status.FAILED_PRECONDITION);
    const lastDisable = await rpcError(self.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: admin(), disabled: true }, updateMask: ["disabled"] })));
    expect(lastDisable.code).toBe(grpc.status.FAILED_PRECONDITION);
    // Its management grant cannot be narrowed or removed either.
    const { grants } = await t.clients.grants.listGrants({ pageSize: 10, pageToken: "", clientId: admin(), apiServerId: MANAGEMENT_API_SERVER_ID });
    const adminGrant = grants[0]!;
    expect((await rpcError(t.clients.grants.updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: adminGrant.id, allowAllScopes: false, scopes: ["clients:read"] }, updateMask: ["allow_all_scopes", "scopes"] })))).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await rpcError(t.clients.grants.deleteGrant({ id: adminGrant.id, etag: "" }))).code).toBe(grpc.status.FAILED_PRECONDITION);

    const second = await operator(t, "all");
    await second.api.clients.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: second.clientId, name: "second admin" }, updateMask: ["name"] }));
    // Now the first may be disabled (by the second); the second is then the last.
    await second.api.clients.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: admin(), disabled: true }, updateMask: ["disabled"] }));
    expect((await rpcError(second.api.clients.deleteClient({ clientId: second.clientId, etag: "" }))).code).toBe(grpc.status.FAILED_PRECONDITION);
    await second.api.clients.updateClient(UpdateClientRequest.fromPartial({ client: { clientId: admin(), disabled: false }, updateMask: ["disabled"] }));
  });
});

describe("api_servers:write cannot open the management API server (item 2)", () => {
  test("dynamic client access, permission changes and a longer lifetime are FAILED_PRECONDITION; anonymous registration gets no management scope", async () => {
    const writer = await operator(t, ["api_servers:write", "api_servers:read"]);
    const { apiServer: before } = await t.clients.apiServers.getApiServer({ id: MANAGEMENT_API_SERVER_ID });
    const attempts: Array<[Partial<NonNullable<UpdateApiServerRequest["apiServer"]>>, string[]]> = [
      [{ dynamicClientAccess: true, dynamicClientScopes: before!.permissions.map((p) => p.value) }, ["dynamic_client_access", "dynamic_client_scopes"]],
      [{ permissions: before!.permissions.filter((p) => p.value !== "api_servers:write") }, ["permissions"]],
      [{ tokenLifetimeSeconds: 2_592_000 }, ["token_lifetime_seconds"]],
    ];
    for (const [fields, mask] of attempts) {
      const err = await rpcError(writer.api.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: MANAGEMENT_API_SERVER_ID, ...fields }, updateMask: mask })));
      expect(err.code, mask.join()).toBe(grpc.status.FAILED_PRECONDITION);
    }
    const { apiServer: after } = await t.clients.apiServers.getApiServer({ id: MANAGEMENT_API_SERVER_ID });
    expect(after).toEqual(before);
    expect(after!.tokenLifetimeSeconds).toBeLessThanOrEqual(3600);

    const reg = await fetch(`${t.httpUrl}/oauth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ client_name: "anon" }) });
    const anon = (await reg.json()) as { client_id: string; client_secret: string };
    const issued = await rpcError(t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: anon.client_id, clientSecret: anon.client_secret }, audience: MANAGEMENT_AUDIENCE })));
    expect(issued.code).toBe(grpc.status.INVALID_ARGUMENT); // invalid_target: no grant, no dynamic access
  });

  test("its description may change", async () => {
    const writer = await operator(t, ["api_servers:write"]);
    const { apiServer } = await writer.api.apiServers.updateApiServer(UpdateApiServerRequest.fromPartial({ apiServer: { id: MANAGEMENT_API_SERVER_ID, description: "ops" }, updateMask: ["description"] }));
    expect(apiServer!.description).toBe("ops");
  });
});

describe("grants:write cannot widen any management grant past the caller (item 3)", () => {
  test("its own grant to allow_all_scopes or with more scopes: PERMISSION_DENIED, and its token still lacks them", async () => {
    const writer = await operator(t, ["grants:write", "grants:read"]);
    for (const [fields, mask] of [
      [{ allowAllScopes: true, scopes: [] as string[] }, ["allow_all_scopes", "scopes"]],
      [{ scopes: ["grants:write", "grants:read", "clients:write"] as string[] }, ["scopes"]],
    ] as const) {
      const err = await rpcError(writer.api.grants.updateGrant(UpdateGrantRequest.fromPartial({ grant: { id: writer.grant.id, ...fields }, updateMask: [...mask] })));
      expect(err.code, mask.join()).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.details).toMatch(/caller lacks/);
    }
    const { grant } = await t.clients.grants.getGrant({ id: writer.grant.id });
    expect(grant).toMatchObject({ allowAllScopes: false, scopes: ["grants:write", "grants:read"] });
  });

  test("a management grant for another client needs the caller to hold every scope of it; within the ceiling it is allowed", async () => {
    const writer = await operator(t, ["grants:write", "clients:read"]);
    const { client } = await createClient(t);
    const beyond = await rpcError(writer.api.grants.createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: client.clientId, apiServerId: MANAGEMENT_API_SERVER_ID, scopes: ["clients:write"] } })));
    expect(beyond.code).toBe(grpc.status.PERMISSION_DENIED);
    const all = await rpcError(writer.api.grants.createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: client.clientId, apiServerId: MANAGEMENT_API_SERVER_ID, allowAllScopes: true } })));
    expect(all.code).toBe(grpc.status.PERMISSION_DENIED);
    const { grant } = await writer.api.grants.createGrant(CreateGrantRequest.fromPartial({ grant: { clientId: client.clientId, apiServerId: MANAGEMENT_API_SERVER_ID, scopes: ["clients:read"] } }));
    expect(grant!.scopes).toEqual(["clients:read"]);
    // Removing permissions it does not hold from someone else is refused too.
    const other = await operator(t, ["keys:write"]);
    expect((await rpcError(writer.api.grants.deleteGrant({ id: other.grant.id, etag: "" }))).code).toBe(grpc.status.PERMISSION_DENIED);
  });
});
