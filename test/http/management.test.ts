import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, httpTarget, rest, uniqueIdentifier, type HttpTarget } from "./helpers.js";

/**
 * The management API over REST (the google.api.http routes). Statuses follow
 * the gRPC mapping Envoy applies: success is 200 (also for create; Envoy cannot
 * send 201 for a non-HttpBody response), 400 with google.rpc.Status +
 * BadRequest, 404, 409 (ALREADY_EXISTS and ABORTED), 401/403.
 */
let target: HttpTarget;
let token: string;
beforeAll(async () => {
  target = await httpTarget();
  token = await adminToken(target);
});
afterAll(() => target.close());

const apiServerBody = (fields: Record<string, unknown> = {}) => ({
  name: "Orders API",
  identifier: uniqueIdentifier("orders"),
  permissions: [{ value: "orders:read", description: "Read orders" }, { value: "orders:write" }],
  ...fields,
});

describe("API servers", () => {
  test("CRUD with proto field names, primitive fields printed and enums by name", async () => {
    const created = await rest(target, token, "POST", "/v1/api-servers", apiServerBody({ signing_alg: "SIGNING_ALG_RS256" }));
    expect(created.status).toBe(200);
    const s = created.json.api_server;
    expect(s).toMatchObject({ name: "Orders API", signing_alg: "SIGNING_ALG_RS256", token_lifetime_seconds: 86400, token_dialect: "TOKEN_DIALECT_ACCESS_TOKEN", enforce_policies: false, system: false });
    expect(s.id).toMatch(/^as_/);
    expect(typeof s.token_lifetime_seconds).toBe("number");
    expect(s.create_time).toMatch(/^\d{4}-\d\d-\d\dT/);

    const got = await rest(target, token, "GET", `/v1/api-servers/${s.id}`);
    expect(got.status).toBe(200);
    expect(got.json.api_server.identifier).toBe(s.identifier);

    // update_mask as a query parameter, snake or lowerCamel names.
    const patched = await rest(target, token, "PATCH", `/v1/api-servers/${s.id}?update_mask=name,token_lifetime_seconds`, { name: "Orders v2", token_lifetime_seconds: 600 });
    expect(patched.status).toBe(200);
    expect(patched.json.api_server).toMatchObject({ name: "Orders v2", token_lifetime_seconds: 600 });
    const camel = await rest(target, token, "PATCH", `/v1/api-servers/${s.id}?updateMask=description`, { description: "the orders API" });
    expect(camel.json.api_server.description).toBe("the orders API");

    const stale = await rest(target, token, "PATCH", `/v1/api-servers/${s.id}?update_mask=name`, { name: "x", etag: s.etag });
    expect(stale.status).toBe(409);
    expect(stale.json.code).toBe(10);

    expect((await rest(target, token, "DELETE", `/v1/api-servers/${s.id}`)).status).toBe(200);
    const gone = await rest(target, token, "GET", `/v1/api-servers/${s.id}`);
    expect(gone.status).toBe(404);
    expect(gone.json).toMatchObject({ code: 5 });
  });

  test("400 names every bad field in a google.rpc.BadRequest", async () => {
    const res = await rest(target, token, "POST", "/v1/api-servers", { name: "", identifier: "has space", token_lifetime_seconds: 5, permissions: [{ value: "a b" }] });
    expect(res.status).toBe(400);
    expect(res.json.code).toBe(3);
    const detail = res.json.details.find((d: { "@type": string }) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest");
    const fields = detail.field_violations.map((v: { field: string }) => v.field);
    expect(fields).toEqual(expect.arrayContaining(["api_server.name", "api_server.identifier", "api_server.token_lifetime_seconds", "api_server.permissions[0].value"]));
  });

  test("duplicate identifier is 409 ALREADY_EXISTS; identifier in the update mask is 400", async () => {
    const body = apiServerBody();
    const first = await rest(target, token, "POST", "/v1/api-servers", body);
    expect(first.status).toBe(200);
    const dup = await rest(target, token, "POST", "/v1/api-servers", body);
    expect(dup.status).toBe(409);
    expect(dup.json.code).toBe(6);
    const immutable = await rest(target, token, "PATCH", `/v1/api-servers/${first.json.api_server.id}?update_mask=identifier`, { identifier: uniqueIdentifier() });
    expect(immutable.status).toBe(400);
  });

  test("list: page_size, page_token (camel or snake) and filter", async () => {
    const prefix = uniqueIdentifier("paged").replace(/\.example\.com$/, "");
    for (let i = 0; i < 5; i++) expect((await rest(target, token, "POST", "/v1/api-servers", apiServerBody({ identifier: `${prefix}/${i}` }))).status).toBe(200);
    const filter = encodeURIComponent(`identifier = "${prefix}/*"`);
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const param = pages % 2 === 0 ? "page_token" : "pageToken";
      const res = await rest(target, token, "GET", `/v1/api-servers?page_size=2&filter=${filter}${pageToken ? `&${param}=${encodeURIComponent(pageToken)}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.json.api_servers.map((s: { identifier: string }) => s.identifier));
      pageToken = res.json.next_page_token;
      pages++;
    } while (pageToken);
    expect(pages).toBe(3);
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `${prefix}/${i}`));
  });

  test("enum names as Auth0-style callers write them (aliases, any case) are accepted; responses print the canonical names", async () => {
    const cases: Array<[Record<string, string>, Record<string, string>]> = [
      [{ signing_alg: "RS256", token_dialect: "access_token_authz" }, { signing_alg: "SIGNING_ALG_RS256", token_dialect: "TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ" }],
      [{ signing_alg: "EdDSA", token_dialect: "access_token" }, { signing_alg: "SIGNING_ALG_EDDSA", token_dialect: "TOKEN_DIALECT_ACCESS_TOKEN" }],
      [{ signing_alg: "es256", token_dialect: "TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ" }, { signing_alg: "SIGNING_ALG_ES256", token_dialect: "TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ" }],
    ];
    for (const [sent, printed] of cases) {
      const created = await rest(target, token, "POST", "/v1/api-servers", apiServerBody(sent));
      expect(created.status, JSON.stringify(sent)).toBe(200);
      expect(created.json.api_server, JSON.stringify(sent)).toMatchObject(printed);
      expect((await rest(target, token, "GET", `/v1/api-servers/${created.json.api_server.id}`)).json.api_server).toMatchObject(printed);
    }
    const patched = await rest(target, token, "PATCH", `/v1/api-servers/${(await rest(target, token, "POST", "/v1/api-servers", apiServerBody())).json.api_server.id}?update_mask=signing_alg`, { signing_alg: "rs256" });
    expect(patched.json.api_server.signing_alg).toBe("SIGNING_ALG_RS256");
  });

  test("token_lifetime is token_lifetime_seconds by its Auth0 name: on create, in an update mask, printed beside it; two different values are refused", async () => {
    const created = await rest(target, token, "POST", "/v1/api-servers", apiServerBody({ token_lifetime: 7200 }));
    expect(created.json.api_server).toMatchObject({ token_lifetime_seconds: 7200, token_lifetime: 7200 });
    const id = created.json.api_server.id;
    const patched = await rest(target, token, "PATCH", `/v1/api-servers/${id}?update_mask=token_lifetime`, { token_lifetime: 600, token_lifetime_seconds: 1 });
    expect(patched.status).toBe(200); // token_lifetime_seconds is not in the mask: ignored
    expect(patched.json.api_server).toMatchObject({ token_lifetime_seconds: 600, token_lifetime: 600 });
    const same = await rest(target, token, "POST", "/v1/api-servers", apiServerBody({ token_lifetime: 900, token_lifetime_seconds: 900 }));
    expect(same.json.api_server.token_lifetime_seconds).toBe(900);

    const clash = await rest(target, token, "POST", "/v1/api-servers", apiServerBody({ name: "", token_lifetime: 900, token_lifetime_seconds: 600 }));
    expect(clash.status).toBe(400);
    const fields = clash.json.details.flatMap((d: { field_violations?: Array<{ field: string }> }) => (d.field_violations ?? []).map((v) => v.field));
    expect(fields.sort()).toEqual(["api_server.name", "api_server.token_lifetime"]);
    const both = await rest(target, token, "PATCH", `/v1/api-servers/${id}?update_mask=token_lifetime,token_lifetime_seconds`, { token_lifetime: 900, token_lifetime_seconds: 600 });
    expect(both.status).toBe(400);
    expect((await rest(target, token, "GET", `/v1/api-servers/${id}`)).json.api_server.token_lifetime_seconds).toBe(600);
  });

  test("validate_only (AIP-163): a create or update is checked and previewed, nothing is written", async () => {
    const body = apiServerBody({ token_lifetime: 3600 });
    const preview = await rest(target, token, "POST", "/v1/api-servers?validate_only=true", body);
    expect(preview.status).toBe(200);
    expect(preview.json.api_server).toMatchObject({ id: "", etag: "", name: body.name, identifier: body.identifier, token_lifetime_seconds: 3600 });
    const filter = encodeURIComponent(`identifier = "${body.identifier}"`);
    expect((await rest(target, token, "GET", `/v1/api-servers?filter=${filter}`)).json.api_servers).toEqual([]);
    const refused = await rest(target, token, "POST", "/v1/api-servers?validate_only=true", { ...body, name: "" });
    expect(refused.status).toBe(400);

    const created = (await rest(target, token, "POST", "/v1/api-servers", body)).json.api_server;
    const updated = await rest(target, token, "PATCH", `/v1/api-servers/${created.id}?update_mask=name&validate_only=true`, { name: "Previewed" });
    expect(updated.json.api_server).toMatchObject({ id: created.id, name: "Previewed" });
    expect((await rest(target, token, "GET", `/v1/api-servers/${created.id}`)).json.api_server).toEqual(created);
  });

  test("the built-in management API server cannot be deleted", async () => {
    const list = await rest(target, token, "GET", `/v1/api-servers?filter=${encodeURIComponent('identifier = "urn:authz:management"')}`);
    const id = list.json.api_servers[0].id;
    expect((await rest(target, token, "DELETE", `/v1/api-servers/${id}`)).status).toBe(400);
  });
});

describe("clients and grants", () => {
  test("client CRUD; the secret appears only in the create and rotate responses", async () => {
    const created = await rest(target, token, "POST", "/v1/clients", { name: "billing", token_endpoint_auth_method: "TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST", metadata: { team: "billing" } });
    expect(created.status).toBe(200);
    const secret = created.json.client_secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const id = created.json.client.client_id;
    const got = await rest(target, token, "GET", `/v1/clients/${id}`);
    expect(got.json.client).toMatchObject({ name: "billing", metadata: { team: "billing" }, disabled: false, dynamic: false });
    expect(got.text).not.toContain(secret);
    expect((await rest(target, token, "GET", "/v1/clients?page_size=500")).text).not.toContain(secret);

    const rotated = await rest(target, token, "POST", `/v1/clients/${id}:rotateSecret`, { grace_period_seconds: 60 });
    expect(rotated.status).toBe(200);
    expect(rotated.json.client_secret).not.toBe(secret);
    expect(rotated.json.client.secrets).toHaveLength(2);

    const disabled = await rest(target, token, "PATCH", `/v1/clients/${id}?update_mask=disabled`, { disabled: true });
    expect(disabled.json.client.disabled).toBe(true);
    expect((await rest(target, token, "DELETE", `/v1/clients/${id}`)).status).toBe(200);
    expect((await rest(target, token, "GET", `/v1/clients/${id}`)).status).toBe(404);
  });

  test("token_endpoint_auth_method by its RFC 7591 name on create and update; responses print the canonical name", async () => {
    const created = await rest(target, token, "POST", "/v1/clients", { name: "rfc7591", token_endpoint_auth_method: "client_secret_post" });
    expect(created.status).toBe(200);
    expect(created.json.client.token_endpoint_auth_method).toBe("TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST");
    const id = created.json.client.client_id;
    const basic = await rest(target, token, "PATCH", `/v1/clients/${id}?update_mask=token_endpoint_auth_method`, { token_endpoint_auth_method: "client_secret_basic" });
    expect(basic.json.client.token_endpoint_auth_method).toBe("TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC");
    const jwks = { keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "k1" }] };
    const jwt = await rest(target, token, "PATCH", `/v1/clients/${id}?update_mask=token_endpoint_auth_method,jwks`, { token_endpoint_auth_method: "private_key_jwt", jwks });
    expect(jwt.status).toBe(200);
    expect((await rest(target, token, "GET", `/v1/clients/${id}`)).json.client.token_endpoint_auth_method).toBe("TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT");
    const bad = await rest(target, token, "POST", "/v1/clients", { name: "x", token_endpoint_auth_method: "client_secret_jwt" });
    expect(bad.status).toBe(400);
  });

  test("grant CRUD, list by client, unknown scopes named, duplicates 409", async () => {
    const server = (await rest(target, token, "POST", "/v1/api-servers", apiServerBody())).json.api_server;
    const client = (await rest(target, token, "POST", "/v1/clients", { name: "reporting" })).json.client;
    const created = await rest(target, token, "POST", "/v1/grants", { client_id: client.client_id, api_server_id: server.id, scopes: ["orders:read"] });
    expect(created.status).toBe(200);
    const grant = created.json.grant;
    expect(grant).toMatchObject({ client_id: client.client_id, api_server_id: server.id, scopes: ["orders:read"], allow_all_scopes: false });
    expect((await rest(target, token, "POST", "/v1/grants", { client_id: client.client_id, api_server_id: server.id })).status).toBe(409);
    const unknown = await rest(target, token, "PATCH", `/v1/grants/${grant.id}?update_mask=scopes`, { scopes: ["orders:read", "orders:fly"] });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.json.details)).toContain("grant.scopes[1]");
    const list = await rest(target, token, "GET", `/v1/grants?client_id=${client.client_id}`);
    expect(list.json.grants.map((g: { id: string }) => g.id)).toEqual([grant.id]);
    expect((await rest(target, token, "DELETE", `/v1/grants/${grant.id}`)).status).toBe(200);
  });

  test("keys are listed without private material; the audit log records writes", async () => {
    const keys = await rest(target, token, "GET", "/v1/keys");
    expect(keys.status).toBe(200);
    expect(keys.json.keys.length).toBeGreaterThanOrEqual(3);
    expect(keys.text).not.toMatch(/"d"|private/);
    const audit = await rest(target, token, "GET", "/v1/audit-events?page_size=5");
    expect(audit.status).toBe(200);
    expect(audit.json.events[0]).toMatchObject({ result: "OK" });
  });
});

test("without a token: 401 and a Bearer challenge", async () => {
  const res = await fetch(`${target.base}/v1/api-servers`);
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  expect(((await res.json()) as { code: number }).code).toBe(16);
});
