import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, expect, test } from "vitest";
import { adminToken, httpTarget, rest, uniqueIdentifier, type HttpTarget } from "./helpers.js";

/**
 * Bad input over HTTP: each is a clean 4xx (never 5xx, never a dropped
 * connection) and leaves the store as it was.
 */
let target: HttpTarget;
let token: string;
beforeAll(async () => {
  target = await httpTarget();
  token = await adminToken(target);
});
afterAll(() => target.close());

async function count(): Promise<number> {
  let total = 0;
  let pageToken = "";
  do {
    const res = await rest(target, token, "GET", `/v1/api-servers?page_size=500${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ""}`);
    total += res.json.api_servers.length;
    pageToken = res.json.next_page_token;
  } while (pageToken);
  return total;
}

/** Sends raw bytes (fetch would refuse some of these requests itself). */
function raw(method: string, path: string, body: Buffer | string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const url = new URL(target.base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const JSON_CT = { "content-type": "application/json" };
const valid = () => JSON.stringify({ name: "x", identifier: uniqueIdentifier() });

test.each([
  ["malformed JSON", "POST", "/v1/api-servers", '{"name": "x",', JSON_CT, 400],
  ["JSON array instead of object", "POST", "/v1/api-servers", "[1,2]", JSON_CT, 400],
  ["wrong type for a field", "POST", "/v1/api-servers", '{"name": 5, "identifier": "https://t.example.com"}', JSON_CT, 400],
  ["unknown enum name", "POST", "/v1/api-servers", '{"name": "x", "identifier": "https://t2.example.com", "signing_alg": "HS256"}', JSON_CT, 400],
  ["number out of range", "POST", "/v1/api-servers", '{"name": "x", "identifier": "https://t3.example.com", "token_lifetime_seconds": 99999999999}', JSON_CT, 400],
  ["invalid UTF-8", "POST", "/v1/api-servers", Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), JSON_CT, 400],
  // 415 from the embedded gateway; Envoy parses the body as JSON regardless and answers 400.
  ["text/plain body on a JSON route", "POST", "/v1/api-servers", "name=x", { "content-type": "text/plain" }, "415|400"],
  ["form body on a JSON route", "POST", "/v1/api-servers", "name=x", { "content-type": "application/x-www-form-urlencoded" }, "415|400"],
  ["oversize body", "POST", "/v1/api-servers", JSON.stringify({ name: "x", description: "y".repeat(70_000) }), JSON_CT, 413],
  ["broken percent-encoding in the path", "GET", "/v1/api-servers/%E0%A4%A", undefined, {}, 400],
  ["broken percent-encoding in the query", "GET", "/v1/api-servers?filter=%ZZ", undefined, {}, 400],
  ["unknown route", "GET", "/v1/nothing-here", undefined, {}, 404],
  ["known path, wrong method", "PUT", "/v1/api-servers", valid(), JSON_CT, 404],
  ["unknown query parameter", "GET", "/v1/api-servers?colour=blue", undefined, {}, 400],
  ["query parameter of the wrong type", "GET", "/v1/api-servers?page_size=many", undefined, {}, 400],
  ["page_size over the maximum", "GET", "/v1/api-servers?page_size=501", undefined, {}, 400],
  ["garbage page token", "GET", "/v1/api-servers?page_token=garbage", undefined, {}, 400],
  ["path id differs from body id", "PATCH", "/v1/api-servers/as_a?update_mask=name", JSON.stringify({ id: "as_b", name: "x" }), JSON_CT, 400],
  ["form token request with broken encoding", "POST", "/oauth/token", "grant_type=%E0%A4%A", { "content-type": "application/x-www-form-urlencoded" }, 400],
  ["token request with an unsupported content type", "POST", "/oauth/token", "<xml/>", { "content-type": "application/xml" }, 400],
  ["token request, oversize", "POST", "/oauth/token", "a=" + "b".repeat(70_000), { "content-type": "application/x-www-form-urlencoded" }, 413],
])("%s -> %s", async (_name, method, path, body, headers, status) => {
  const before = await count();
  const res = await raw(method, path, body, headers);
  const [embedded, envoy] = String(status).split("|").map(Number);
  expect(res.status).toBe(target.envoy ? (envoy ?? embedded) : embedded);
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(res.body.length).toBeGreaterThan(0);
  expect(await count()).toBe(before);
});

test("unknown JSON fields are ignored (as Envoy does) and the request succeeds", async () => {
  const res = await rest(target, token, "POST", "/v1/api-servers", { name: "x", identifier: uniqueIdentifier(), colour: "blue" });
  expect(res.status).toBe(200);
});

/**
 * OneLogin-style validation answers: one 400 names every bad field, the ones
 * that do not even decode (an unknown enum name, a wrong JSON type) among
 * them, by proto field path. The embedded gateway has the service check the
 * rest (validate_only) and merges; Envoy answers the first decode error alone,
 * as text (src/gateway/settings.ts), so against Envoy only the 400 and the
 * unchanged store are expected.
 */
const badRequestFields = (json: any): string[] =>
  (json?.details ?? []).filter((d: { "@type": string }) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest").flatMap((d: any) => d.field_violations.map((v: { field: string }) => v.field));

test("a field that does not decode is named together with every other bad field, and nothing is created", async () => {
  const before = await count();
  const res = await rest(target, token, "POST", "/v1/api-servers", { name: "", signing_alg: "RS256X", token_lifetime_seconds: 5 });
  expect(res.status).toBe(400);
  expect(await count()).toBe(before);
  if (target.envoy) return;
  expect(res.json.code).toBe(3);
  expect(badRequestFields(res.json).sort()).toEqual(["api_server.identifier", "api_server.name", "api_server.signing_alg", "api_server.token_lifetime_seconds"]);
  expect(res.json.message).toContain('api_server.signing_alg: "RS256X" is not one of');
});

test("wrong JSON types deep in the body are named by their index, beside the domain's violations of the rest", async () => {
  const before = await count();
  const body = { name: "x".repeat(201), identifier: uniqueIdentifier(), enforce_policies: "yes", permissions: [{ value: "ok:read" }, { value: 5 }, { value: "a b" }] };
  const res = await rest(target, token, "POST", "/v1/api-servers", body);
  expect(res.status).toBe(400);
  expect(await count()).toBe(before);
  if (target.envoy) return;
  expect(badRequestFields(res.json).sort()).toEqual(["api_server.enforce_policies", "api_server.name", "api_server.permissions[1].value", "api_server.permissions[2].value"]);
});

test("an update with an undecodable field reports the merged resource's violations too, and changes nothing", async () => {
  const created = (await rest(target, token, "POST", "/v1/api-servers", { name: "Kept", identifier: uniqueIdentifier() })).json.api_server;
  const res = await rest(target, token, "PATCH", `/v1/api-servers/${created.id}?update_mask=name,token_dialect`, { name: "", token_dialect: "JWT" });
  expect(res.status).toBe(400);
  const after = (await rest(target, token, "GET", `/v1/api-servers/${created.id}`)).json.api_server;
  expect(after).toEqual(created);
  if (target.envoy) return;
  expect(badRequestFields(res.json).sort()).toEqual(["api_server.name", "api_server.token_dialect"]);
});

test("a bad entry of a repeated or map field is named by its index or key", async () => {
  const before = await count();
  const server = await rest(target, token, "POST", "/v1/api-servers", { name: "", identifier: uniqueIdentifier(), audiences: [uniqueIdentifier(), 7] });
  expect(server.status).toBe(400);
  expect(await count()).toBe(before);
  const client = await rest(target, token, "POST", "/v1/clients", { name: "m", metadata: { team: "ok", cost: 5 } });
  expect(client.status).toBe(400);
  if (target.envoy) return;
  expect(badRequestFields(server.json).sort()).toEqual(["api_server.audiences[1]", "api_server.name"]);
  expect(badRequestFields(client.json)).toEqual(['client.metadata["cost"]']);
});
