import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { adminToken, basicAuth, httpTarget, rest, uniqueIdentifier, type HttpTarget } from "./helpers.js";

/**
 * The HTTP edge's transcoding as seen through the real service: routes
 * (custom verbs, method-specific matching, trailing slashes), path and query
 * decoding, response shape and headers, HttpBody passthrough. Written against
 * a base URL, so it runs unchanged against Envoy (AUTHZ_HTTP_URL).
 */
let target: HttpTarget;
let token: string;
beforeAll(async () => {
  target = await httpTarget();
  token = await adminToken(target);
});
afterAll(() => target.close());

/** Sends exactly these bytes and headers (fetch normalises some requests away). */
function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(target.base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("routes", () => {
  test("custom verbs: POST /v1/keys:rotate is its own route; an unregistered verb is no route", async () => {
    const rotated = await rest(target, token, "POST", "/v1/keys:rotate", { alg: "SIGNING_ALG_ES256" });
    expect(rotated.status).toBe(200);
    expect(rotated.json.keys[0]).toMatchObject({ alg: "SIGNING_ALG_ES256" });
    expect((await rest(target, token, "POST", "/v1/keys:frobnicate", {})).status).toBe(404);
    expect((await rest(target, token, "POST", "/v1/keys", {})).status).toBe(404);
  });

  test("POST /v1/clients/{client_id}:rotateSecret binds the id and takes the rest from the body", async () => {
    const client = (await rest(target, token, "POST", "/v1/clients", { name: "verb" })).json.client;
    const rotated = await rest(target, token, "POST", `/v1/clients/${client.client_id}:rotateSecret`, { grace_period_seconds: 0 });
    expect(rotated.status).toBe(200);
    expect(rotated.json.client.client_id).toBe(client.client_id);
    expect((await rest(target, token, "POST", "/v1/clients/cl_missing:rotateSecret", {})).status).toBe(404);
  });

  test("matching is per method: GET /oauth/token, PUT /v1/api-servers/{id}, HEAD are 404", async () => {
    for (const [method, path] of [["GET", "/oauth/token"], ["PUT", "/v1/api-servers/as_x"], ["HEAD", "/v1/api-servers"], ["OPTIONS", "/v1/api-servers"]] as const) {
      expect((await raw(method, path)).status, `${method} ${path}`).toBe(404);
    }
  });

  test("a trailing slash is dropped as by Envoy's matcher: GET /v1/api-servers/ lists", async () => {
    const res = await rest(target, token, "GET", "/v1/api-servers/?page_size=1");
    expect(res.status).toBe(200);
    expect(res.json.api_servers).toHaveLength(1);
  });
});

describe("path and query decoding", () => {
  test("a one-segment path variable is fully percent-decoded before it reaches the service", async () => {
    // The decoded id (`/`, space, é) is no id the service issues: refused before any lookup, and named.
    const res = await rest(target, token, "GET", "/v1/api-servers/as%2Fx%20%C3%A9");
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: 3, message: expect.stringContaining('"as/x é"') });
  });

  test("query values: + is a space, %XX decoded, names by proto or JSON name", async () => {
    const name = `Spaced API ${Date.now()}`;
    const created = await rest(target, token, "POST", "/v1/api-servers", { name, identifier: uniqueIdentifier("spaced") });
    expect(created.status).toBe(200);
    const plus = `name+%3D+%22${name.replace(/ /g, "+")}%22`;
    const found = await rest(target, token, "GET", `/v1/api-servers?filter=${plus}&pageSize=5`);
    expect(found.status).toBe(200);
    expect(found.json.api_servers.map((s: { id: string }) => s.id)).toEqual([created.json.api_server.id]);
  });

  test("timestamps as query parameters (RFC 3339); a malformed one is 400", async () => {
    const ok = await rest(target, token, "GET", `/v1/audit-events?start_time=2000-01-01T00:00:00Z&end_time=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}&page_size=1`);
    expect(ok.status).toBe(200);
    expect(ok.json.events).toHaveLength(1);
    expect((await rest(target, token, "GET", "/v1/audit-events?start_time=yesterday")).status).toBe(400);
  });

  test("repeated query parameter for a scalar: the last value wins (protobuf merge, as Envoy)", async () => {
    const res = await rest(target, token, "GET", "/v1/api-servers?page_size=500&page_size=1");
    expect(res.status).toBe(200);
    expect(res.json.api_servers).toHaveLength(1);
  });
});

describe("secrets never in the URL (RFC 6749 §2.3.1, RFC 6750 §2.3)", () => {
  test("/v1/tokens:* refuse a client secret, an assertion or a token in the query, by either field name; in the body they work", async () => {
    const secret = encodeURIComponent(target.adminSecret);
    const issue = `/v1/tokens:issue?client.client_id=${encodeURIComponent(target.adminId)}&audience=urn:authz:management`;
    for (const path of [`${issue}&client.client_secret=${secret}`, `${issue}&client.clientSecret=${secret}`, "/v1/tokens:introspect?token=x", "/v1/tokens:revoke?token=x"]) {
      const res = await rest(target, token, "POST", path, {});
      expect(res.status, path).toBe(400);
      expect(res.text, path).toMatch(/never in the URL/);
    }
    // A percent-encoded name binds no field at all here (400 too).
    expect((await rest(target, token, "POST", `${issue}&client%2Eclient_secret=${secret}`, {})).status).toBe(400);
    const inBody = await rest(target, token, "POST", "/v1/tokens:issue", { client: { client_id: target.adminId, client_secret: target.adminSecret }, audience: "urn:authz:management" });
    expect(inBody.status, inBody.text).toBe(200);
  });
});

describe("responses", () => {
  test("proto3 JSON: proto field names, primitive fields printed, no transport headers", async () => {
    const res = await raw("GET", "/v1/api-servers?page_size=1");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(Number(res.headers["content-length"])).toBe(Buffer.byteLength(res.body));
    for (const h of ["grpc-status", "grpc-message", "x-http-code", "grpc-status-details-bin"]) expect(res.headers[h], h).toBeUndefined();
    const body = JSON.parse(res.body);
    expect(Object.keys(body).sort()).toEqual(["api_servers", "next_page_token"]);
    expect(Object.keys(body.api_servers[0])).toEqual(expect.arrayContaining(["token_lifetime_seconds", "enforce_policies", "permissions", "signing_alg"]));
  });

  test("errors: google.rpc.Status with typed details, the same for every error path", async () => {
    const res = await raw("POST", "/v1/api-servers", JSON.stringify({ name: "", identifier: "no" }), { "content-type": "application/json" });
    expect(res.status).toBe(400);
    expect(res.headers["content-type"]).toBe("application/json");
    const status = JSON.parse(res.body);
    expect(Object.keys(status).sort()).toEqual(["code", "details", "message"]);
    expect(status.details.map((d: { "@type": string }) => d["@type"])).toContain("type.googleapis.com/google.rpc.BadRequest");
  });

  test("HttpBody: the token endpoint gets the raw form and answers its own bytes, status and headers", async () => {
    const res = await raw("POST", "/oauth/token", "grant_type=client_credentials&audience=urn%3Aauthz%3Amanagement", {
      "content-type": "application/x-www-form-urlencoded",
      authorization: basicAuth(target.adminId, target.adminSecret),
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(JSON.parse(res.body)).toMatchObject({ token_type: "Bearer", expires_in: expect.any(Number) });
    // x-http-code from the service becomes the status and is not shown.
    const bad = await raw("POST", "/oauth/token", "grant_type=password", { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth(target.adminId, target.adminSecret) });
    expect(bad.status).toBe(400);
    expect(bad.headers["x-http-code"]).toBeUndefined();
    expect(JSON.parse(bad.body).error).toBe("unsupported_grant_type");
  });

  test("trailers-only errors carry their headers: 401 with a Bearer challenge", async () => {
    const res = await raw("GET", "/v1/api-servers", undefined, { authorization: "Bearer not-a-token" });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer /);
    expect(JSON.parse(res.body).code).toBe(16);
  });
});
