import * as grpc from "@grpc/grpc-js";
import { createHash, generateKeyPairSync } from "node:crypto";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  Client,
  ClientType,
  CreateClientRequest,
  GetClientResponse,
  ListClientsResponse,
  RotateClientSecretRequest,
  TokenEndpointAuthMethod,
  UpdateClientRequest,
} from "../gen/authz/v1/client.js";
import { IssueTokenRequest } from "../gen/authz/v1/token.js";
import type { ManualClock } from "../src/clock.js";
import type { ClientInput } from "../src/domain/clients.js";
import { violatedFields } from "./helpers/errors.js";
import { createApiServer, createClient, grant } from "./helpers/oauth.js";
import { rpcError, startTestServer, type TestServer } from "./helpers/server.js";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.cleanup();
  // After the restart test `t` runs on the first server's temp file; remove its directory too.
  rmSync(dirname(t.dataFile), { recursive: true, force: true });
});

const clients = () => t.clients.clients;
const clock = () => t.clock as ManualClock;
const domain = () => t.server.domain;
/** Verifies a secret the way the token endpoint does. */
/** The authenticated client; a refusal fails the test (use `refused` to expect one). */
const authenticate = async (clientId: string, secret: string) => {
  const client = await domain().clients.authenticateSecret(clientId, secret);
  if (!client) throw new Error(`expected ${clientId} to authenticate`);
  return client;
};
const refused = async (clientId: string, secret: string) => expect(await domain().clients.authenticateSecret(clientId, secret)).toBeUndefined();
const get = async (clientId: string) => (await clients().getClient({ clientId })).client!;
const listAll = async (filter = "") => {
  const all: Client[] = [];
  let pageToken = "";
  do {
    const page = await clients().listClients({ pageSize: 500, pageToken, filter });
    all.push(...page.clients);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
};
const disable = (clientId: string, disabled: boolean) =>
  clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId, disabled }, updateMask: ["disabled"] }));
const input = (fields: Partial<ClientInput> = {}): ClientInput => ({
  name: "internal",
  description: "",
  type: undefined,
  tokenEndpointAuthMethod: undefined,
  grantTypes: [],
  disabled: false,
  metadata: {},
  jwks: undefined,
  ...fields,
});

describe("create, get, list", () => {
  test("create returns a 256-bit secret once; no Get or List response carries it or its digest", async () => {
    const { client, secret } = await createClient(t, { description: "billing", metadata: { team: "billing" } });
    expect(client.clientId).toMatch(/^cl_[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
    expect(client).toMatchObject({ dynamic: false, disabled: false, grantTypes: ["client_credentials"], metadata: { team: "billing" } });
    expect(client.secrets).toHaveLength(1);
    expect(client.secrets[0]!.expireTime).toBeUndefined();

    const got = await clients().getClient({ clientId: client.clientId });
    const listed = await clients().listClients({ pageSize: 500, pageToken: "", filter: "" });
    expect(listed.clients.map((c) => c.clientId)).toContain(client.clientId);
    const digest = createHash("sha256").update(secret).digest();
    const serialized = [
      JSON.stringify(GetClientResponse.toJSON(got)),
      JSON.stringify(ListClientsResponse.toJSON(listed)),
      Buffer.from(GetClientResponse.encode(got).finish()).toString("latin1"),
      Buffer.from(ListClientsResponse.encode(listed).finish()).toString("latin1"),
    ];
    for (const text of serialized) {
      expect(text).not.toContain(secret);
      for (const encoding of ["hex", "base64", "base64url", "latin1"] as const) expect(text).not.toContain(digest.toString(encoding));
    }
    expect((await authenticate(client.clientId, secret)).clientId).toBe(client.clientId);
    await refused(client.clientId, `${secret}x`);
    await refused(client.clientId, "");
    await refused("cl_unknown", secret);
  });

  test("defaults: M2M, client_secret_basic, client_credentials; each create gets a distinct id and secret", async () => {
    const a = await clients().createClient(CreateClientRequest.fromPartial({ client: { name: "defaults" } }));
    const b = await clients().createClient(CreateClientRequest.fromPartial({ client: { name: "defaults" } }));
    expect(a.client).toMatchObject({
      name: "defaults",
      type: ClientType.CLIENT_TYPE_M2M,
      tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC,
      grantTypes: ["client_credentials"],
      usage: { tokensIssued: 0 },
    });
    expect(a.client!.createTime).toEqual(new Date(clock().now()).toISOString());
    expect(a.client!.etag).not.toBe("");
    expect(a.client!.clientId).not.toBe(b.client!.clientId);
    expect(a.clientSecret).not.toBe(b.clientSecret);
    await refused(a.client!.clientId, b.clientSecret);
  });

  test("the RFC 7591 alias values are the canonical methods to typed callers, and print canonically", async () => {
    const { client } = await clients().createClient(CreateClientRequest.fromPartial({ client: { name: "alias", tokenEndpointAuthMethod: TokenEndpointAuthMethod.CLIENT_SECRET_POST } }));
    expect(client!.tokenEndpointAuthMethod).toBe(TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST);
    expect(Client.toJSON(client!)).toMatchObject({ tokenEndpointAuthMethod: "TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST" });
    const { client: basic } = await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client!.clientId, tokenEndpointAuthMethod: TokenEndpointAuthMethod.CLIENT_SECRET_BASIC }, updateMask: ["token_endpoint_auth_method"] }));
    expect(basic!.tokenEndpointAuthMethod).toBe(TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC);
  });

  test("server-set fields sent on create are ignored: id, dynamic, secrets, usage", async () => {
    const res = await clients().createClient(
      CreateClientRequest.fromPartial({ client: { name: "sneaky", clientId: "cl_mine", dynamic: true, secrets: [{ id: "sec_x" }], usage: { tokensIssued: 99 } } }),
    );
    expect(res.client!.clientId).not.toBe("cl_mine");
    expect(res.client).toMatchObject({ dynamic: false, usage: { tokensIssued: 0 } });
    expect(res.client!.secrets.map((s) => s.id)).not.toContain("sec_x");
  });

  test("pagination over more than 100 clients, with filters: no duplicates, no gaps", async () => {
    const tag = `p${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 105; i++) ids.push((await createClient(t, { name: tag })).client.clientId);
    await disable(ids[3]!, true);
    await disable(ids[70]!, true);
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await clients().listClients({ pageSize: 10, pageToken, filter: `name = "${tag}"` });
      expect(page.clients.length).toBeLessThanOrEqual(10);
      seen.push(...page.clients.map((c) => c.clientId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(seen).toEqual(ids);
    expect(new Set(seen).size).toBe(105);
    expect(pages).toBe(11);
    const disabled = await clients().listClients({ pageSize: 0, pageToken: "", filter: `name = "${tag}" AND disabled = true` });
    expect(disabled.clients.map((c) => c.clientId)).toEqual([ids[3], ids[70]]);
    const prefix = await listAll(`name = "${tag.slice(0, -1)}*"`);
    expect(prefix.map((c) => c.clientId)).toEqual(expect.arrayContaining(ids));
  });

  test("list arguments are validated", async () => {
    expect(violatedFields(await rpcError(clients().listClients({ pageSize: 0, pageToken: "", filter: 'disabled = "yes"' })))).toEqual(["filter"]);
    expect(violatedFields(await rpcError(clients().listClients({ pageSize: 0, pageToken: "", filter: 'secret = "x"' })))).toEqual(["filter"]);
    expect(violatedFields(await rpcError(clients().listClients({ pageSize: 501, pageToken: "", filter: "" })))).toEqual(["page_size"]);
    expect(violatedFields(await rpcError(clients().listClients({ pageSize: 0, pageToken: "garbage", filter: "" })))).toEqual(["page_token"]);
    await createClient(t);
    await createClient(t);
    const first = await clients().listClients({ pageSize: 1, pageToken: "", filter: "" });
    const other = await rpcError(clients().listClients({ pageSize: 1, pageToken: first.nextPageToken, filter: "disabled = false" }));
    expect(violatedFields(other)).toEqual(["page_token"]);
  });

  test("get of an unknown client is NOT_FOUND; an empty or malformed id is INVALID_ARGUMENT, refused before any lookup", async () => {
    expect((await rpcError(clients().getClient({ clientId: "cl_nope" }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rpcError(clients().getClient({ clientId: "" }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await rpcError(clients().getClient({ clientId: "x".repeat(129) }))).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await rpcError(clients().getClient({ clientId: "cl nope" }))).code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe("validation", () => {
  const key = { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" };
  test.each<[string, Partial<Client>, string]>([
    ["empty name", { name: "" }, "client.name"],
    ["blank name", { name: "   " }, "client.name"],
    ["long name", { name: "n".repeat(201) }, "client.name"],
    ["name with a control character", { name: "a\nb" }, "client.name"],
    ["long description", { description: "x".repeat(2001) }, "client.description"],
    ["unknown type", { type: 7 as ClientType }, "client.type"],
    ["unknown auth method", { tokenEndpointAuthMethod: 9 as TokenEndpointAuthMethod }, "client.token_endpoint_auth_method"],
    ["unknown grant type", { grantTypes: ["password"] }, "client.grant_types[0]"],
    ["unknown grant type after a duplicate", { grantTypes: ["client_credentials", "client_credentials", "implicit"] }, "client.grant_types[2]"],
    ["too many metadata entries", { metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, "v"])) }, "client.metadata"],
    ["empty metadata key", { metadata: { "": "v" } }, "client.metadata"],
    ["long metadata key", { metadata: { ["k".repeat(65)]: "v" } }, "client.metadata"],
    ["metadata value too long", { metadata: { k: "v".repeat(513) } }, 'client.metadata["k"]'],
    ["private_key_jwt without jwks", { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT }, "client.jwks"],
    ["jwks that is not a set", { jwks: { kty: "EC" } }, "client.jwks"],
    ["jwks with no keys", { jwks: { keys: [] } }, "client.jwks"],
    ["jwks with more than 10 keys", { jwks: { keys: Array.from({ length: 11 }, () => key) } }, "client.jwks"],
    ["jwks key that is not an object", { jwks: { keys: ["k"] } }, "client.jwks.keys[0]"],
    ["jwks with a private key", { jwks: { keys: [{ ...key, d: "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI" }] } }, "client.jwks.keys[0]"],
    ["jwks with a symmetric key", { jwks: { keys: [key, { kty: "oct", k: "c2VjcmV0" }] } }, "client.jwks.keys[1]"],
    ["jwks with an unusable key", { jwks: { keys: [{ kty: "EC", crv: "P-256", x: "bad", y: "bad" }] } }, "client.jwks.keys[0]"],
  ])("%s -> %s", async (_name, fields, field) => {
    const before = (await listAll()).length;
    const err = await rpcError(clients().createClient(CreateClientRequest.fromPartial({ client: { name: "c", ...fields } })));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(violatedFields(err)).toEqual([field]);
    expect((await listAll()).length).toBe(before);
  });

  test("every violation is reported at once", async () => {
    const err = await rpcError(
      clients().createClient(CreateClientRequest.fromPartial({ client: { name: "", description: "d".repeat(2001), grantTypes: ["password"], metadata: { k: "v".repeat(513) } } })),
    );
    expect(violatedFields(err)).toEqual(["client.name", "client.description", "client.grant_types[0]", 'client.metadata["k"]']);
  });

  test("a bad update is refused with its field violations and changes nothing", async () => {
    const { client, secret } = await createClient(t, { metadata: { a: "1" } });
    const err = await rpcError(
      clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "", grantTypes: ["password"], metadata: { a: "2" } }, updateMask: ["name", "grant_types", "metadata"] })),
    );
    expect(violatedFields(err)).toEqual(["client.name", "client.grant_types[0]"]);
    expect(await get(client.clientId)).toEqual(client);
    const jwt = await rpcError(
      clients().updateClient(
        UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT }, updateMask: ["token_endpoint_auth_method"] }),
      ),
    );
    expect(violatedFields(jwt)).toEqual(["client.jwks"]);
    expect(await get(client.clientId)).toEqual(client);
    await authenticate(client.clientId, secret);
  });

  test("update masks: at least one field, no output-only or unknown paths", async () => {
    const { client } = await createClient(t);
    const empty = await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "x" }, updateMask: [] })));
    expect(violatedFields(empty)).toEqual(["update_mask"]);
    for (const path of ["client_id", "secrets", "dynamic", "usage", "etag", "nope"]) {
      const err = await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId }, updateMask: [path] })));
      expect(violatedFields(err)).toEqual(["update_mask"]);
    }
    expect(await get(client.clientId)).toEqual(client);
  });

  test("rotation grace is bounded to 30 days", async () => {
    const { client, secret } = await createClient(t);
    const bad = await rpcError(clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 2_592_001 })));
    expect(violatedFields(bad)).toEqual(["grace_period_seconds"]);
    expect((await get(client.clientId)).secrets).toEqual(client.secrets);
    await authenticate(client.clientId, secret);
  });
});

describe("update and delete", () => {
  test("update applies only masked fields and moves the etag; a stale etag is ABORTED", async () => {
    const { client } = await createClient(t, { metadata: { a: "1" } });
    clock().advance(5);
    const { client: updated } = await clients().updateClient(
      UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "renamed", description: "not in mask", metadata: { b: "2" }, grantTypes: ["client_credentials", "refresh_token"] }, updateMask: ["name", "metadata", "grant_types"] }),
    );
    expect(updated).toMatchObject({ name: "renamed", description: "", metadata: { b: "2" }, grantTypes: ["client_credentials", "refresh_token"], createTime: client.createTime });
    expect(updated!.updateTime).toEqual(new Date(clock().now()).toISOString());
    expect(updated!.etag).not.toBe(client.etag);
    expect(await get(client.clientId)).toEqual(updated);
    const stale = await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "x", etag: client.etag }, updateMask: ["name"] })));
    expect(stale.code).toBe(grpc.status.ABORTED);
    const fresh = await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, description: "d", etag: updated!.etag }, updateMask: ["description"] }));
    expect(fresh.client!.description).toBe("d");
    expect((await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: "cl_nope", name: "x" }, updateMask: ["name"] })))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("a private_key_jwt client registers public keys (and may drop them only by leaving private_key_jwt)", async () => {
    const { publicKey } = await generateKeyPair("ES256");
    const jwk = await exportJWK(publicKey);
    const { client } = await createClient(t, { tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT, jwks: { keys: [jwk] } });
    expect(client.jwks).toEqual({ keys: [jwk] });
    expect((await domain().clients.get(client.clientId)).jwks).toEqual({ keys: [jwk] });
    const drop = await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId }, updateMask: ["jwks"] })));
    expect(violatedFields(drop)).toEqual(["client.jwks"]);
    const { client: basic } = await clients().updateClient(
      UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC }, updateMask: ["jwks", "token_endpoint_auth_method"] }),
    );
    expect(basic!.jwks).toBeUndefined();
  });

  test("an RSA key under 2048 bits is refused when registered (no assertion it signs could be accepted); 2048 bits is taken", async () => {
    const pkj = TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT;
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
    const refused = await rpcError(clients().createClient(CreateClientRequest.fromPartial({ client: { name: "weak-rsa", tokenEndpointAuthMethod: pkj, jwks: { keys: [small] } } })));
    expect(violatedFields(refused)).toEqual(["client.jwks.keys[0]"]);
    expect(refused.details).toMatch(/1024 bits; at least 2048/);
    const enough = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
    expect((await createClient(t, { tokenEndpointAuthMethod: pkj, jwks: { keys: [enough] } })).client.jwks).toEqual({ keys: [enough] });
  });

  test("disabling refuses authentication and invalidates every token issued so far; enabling again keeps that line", async () => {
    const { client, secret } = await createClient(t);
    expect((await domain().clients.get(client.clientId)).tokensValidAfter).toBe(0);
    clock().advance(1);
    await disable(client.clientId, true);
    const line = clock().now();
    expect(await domain().clients.get(client.clientId)).toMatchObject({ disabled: true, tokensValidAfter: line });
    await refused(client.clientId, secret);
    clock().advance(1);
    await disable(client.clientId, false);
    await authenticate(client.clientId, secret);
    expect((await domain().clients.get(client.clientId)).tokensValidAfter).toBe(line);
    // An update that does not disable leaves the line where it is.
    await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "x" }, updateMask: ["name"] }));
    expect((await domain().clients.get(client.clientId)).tokensValidAfter).toBe(line);
  });

  test("delete: the client is gone and cannot authenticate; a stale etag changes nothing", async () => {
    const { client, secret } = await createClient(t);
    await authenticate(client.clientId, secret); // cached now: delete must drop it
    const stale = await rpcError(clients().deleteClient({ clientId: client.clientId, etag: "stale" }));
    expect(stale.code).toBe(grpc.status.ABORTED);
    expect(await get(client.clientId)).toEqual(client);
    await clients().deleteClient({ clientId: client.clientId, etag: client.etag });
    await refused(client.clientId, secret);
    expect((await rpcError(clients().getClient({ clientId: client.clientId }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rpcError(clients().deleteClient({ clientId: client.clientId, etag: "" }))).code).toBe(grpc.status.NOT_FOUND);
    expect((await listAll()).map((c) => c.clientId)).not.toContain(client.clientId);
  });

  test("dynamic clients are created through the domain option only; dynamic is filterable and output only", async () => {
    const { client } = await t.server.transaction((tx) => domain().clients.create(input({ name: "registered" }), tx, { dynamic: true }));
    expect(client.dynamic).toBe(true);
    expect((await get(client.clientId)).dynamic).toBe(true);
    const dynamicIds = (await listAll("dynamic = true")).map((c) => c.clientId);
    expect(dynamicIds).toContain(client.clientId);
    const { client: regular } = await createClient(t);
    expect(dynamicIds).not.toContain(regular.clientId);
    const err = await rpcError(clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: regular.clientId, dynamic: true }, updateMask: ["dynamic"] })));
    expect(violatedFields(err)).toEqual(["update_mask"]);
    expect((await get(regular.clientId)).dynamic).toBe(false);
  });
});

describe("secrets", () => {
  test("rotation with a grace period: both secrets work, then only the new one; at most two live", async () => {
    const { client, secret: first } = await createClient(t);
    const r1 = await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 300 }));
    const second = r1.clientSecret;
    expect(second).not.toBe(first);
    expect(r1.client!.secrets).toHaveLength(2);
    const graced = r1.client!.secrets.find((s) => s.expireTime)!;
    expect(graced.id).toBe(client.secrets[0]!.id);
    expect(graced.expireTime).toEqual(new Date(clock().now() + 300_000).toISOString());
    await authenticate(client.clientId, first);
    await authenticate(client.clientId, second);
    // The rotation response is the only place the new secret appears.
    expect(JSON.stringify(Client.toJSON(r1.client!))).not.toContain(second);
    expect(JSON.stringify(Client.toJSON(await get(client.clientId)))).not.toContain(second);

    const r2 = await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 300 }));
    expect(r2.client!.secrets).toHaveLength(2); // the oldest was dropped
    expect(r2.client!.secrets.map((s) => s.id)).not.toContain(graced.id);
    await refused(client.clientId, first);
    await authenticate(client.clientId, second);
    await authenticate(client.clientId, r2.clientSecret);
    clock().advance(299);
    await authenticate(client.clientId, second);
    clock().advance(1);
    await refused(client.clientId, second);
    await authenticate(client.clientId, r2.clientSecret);
    expect((await domain().clients.get(client.clientId)).tokensValidAfter).toBe(0);
  });

  test("rotation without grace revokes the old secret at once and every earlier token", async () => {
    const { client, secret } = await createClient(t);
    await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 600 }));
    clock().advance(1);
    const r = await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 0 }));
    await refused(client.clientId, secret);
    await authenticate(client.clientId, r.clientSecret);
    expect(r.client!.secrets).toHaveLength(1);
    expect((await domain().clients.get(client.clientId)).tokensValidAfter).toBe(clock().now());
    expect((await rpcError(clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: "cl_nope", gracePeriodSeconds: 0 })))).code).toBe(grpc.status.NOT_FOUND);
  });

  test("a disabled client with a correct secret is refused the same way as a wrong secret", async () => {
    const { client, secret } = await createClient(t);
    await disable(client.clientId, true);
    // All three answer the same (undefined): nothing tells a disabled client from a wrong secret or an unknown id.
    expect([await domain().clients.authenticateSecret(client.clientId, secret), await domain().clients.authenticateSecret(client.clientId, "wrong"), await domain().clients.authenticateSecret("cl_unknown", secret)]).toEqual([undefined, undefined, undefined]);
  });

  test("recordIssuance counts tokens per client; GetClient shows the usage", async () => {
    const { client } = await createClient(t);
    const at = clock().now();
    domain().clients.recordIssuance(client.clientId, at - 1000);
    domain().clients.recordIssuance(client.clientId, at);
    expect((await get(client.clientId)).usage).toEqual({ tokensIssued: 2, lastIssueTime: new Date(at).toISOString() });
    await domain().clients.flushUsage();
    // An edit after the flush keeps the count (the counter is not part of the update).
    await clients().updateClient(UpdateClientRequest.fromPartial({ client: { clientId: client.clientId, name: "y" }, updateMask: ["name"] }));
    domain().clients.recordIssuance(client.clientId, at);
    expect((await get(client.clientId)).usage?.tokensIssued).toBe(3);
  });

  test("a read while the counts are being written sees each count once (not lost in flight, not added twice)", async () => {
    for (let round = 0; round < 20; round++) {
      const { client } = await createClient(t);
      const at = clock().now();
      domain().clients.recordIssuance(client.clientId, at);
      domain().clients.recordIssuance(client.clientId, at);
      const flushing = domain().clients.flushUsage(); // in flight while the read below loads the client
      const [read] = await Promise.all([get(client.clientId), flushing]);
      expect(read.usage?.tokensIssued, `round ${round}`).toBe(2);
      expect((await get(client.clientId)).usage?.tokensIssued).toBe(2);
    }
  });
});

test("clients, secrets in grace, disabled state and usage survive a restart", async () => {
  const { publicKey } = await generateKeyPair("ES256");
  const jwk = await exportJWK(publicKey);
  const { client, secret: old } = await createClient(t, { metadata: { team: "a" }, jwks: { keys: [jwk] } });
  const rotated = await clients().rotateClientSecret(RotateClientSecretRequest.fromPartial({ clientId: client.clientId, gracePeriodSeconds: 60 }));
  const off = await createClient(t);
  clock().advance(1);
  await disable(off.client.clientId, true);
  // Two real issuances through the token endpoint (counted in memory, flushed at stop).
  const api = await createApiServer(t);
  await grant(t, client.clientId, api.id, ["orders:read"]);
  for (let i = 0; i < 2; i++) await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId: client.clientId, clientSecret: rotated.clientSecret }, audience: api.identifier }));
  const before = { kept: await get(client.clientId), off: await domain().clients.get(off.client.clientId) };
  await t.stop(); // flushes the in-memory issuance counters
  t = await startTestServer({ dataFile: t.dataFile, kek: t.kek, clock: t.clock, config: { adminClientId: t.adminClientId, adminClientSecret: t.adminClientSecret } });
  const kept = await get(client.clientId);
  expect(kept).toEqual(before.kept);
  expect(kept).toMatchObject({ metadata: { team: "a" }, jwks: { keys: [jwk] }, usage: { tokensIssued: 2 } });
  expect((await domain().clients.get(off.client.clientId)).tokensValidAfter).toBe(before.off.tokensValidAfter);
  await refused(off.client.clientId, off.secret);
  await authenticate(client.clientId, old);
  await authenticate(client.clientId, rotated.clientSecret);
  clock().advance(60);
  await refused(client.clientId, old);
  await authenticate(client.clientId, rotated.clientSecret);
});
