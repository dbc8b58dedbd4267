import { Agent, request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loopbackUpstream } from "../src/gateway/upstream.js";
import { createGateway, type Gateway } from "../src/gateway/index.js";
import { transcoderSettings, type TranscoderSettings } from "../src/gateway/settings.js";
import { silentLogger } from "../src/log.js";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type } from "@bufbuild/protobuf/wkt";
import { startEcho, TEST_METHODS, testRegistry, type Echo } from "./gateway_fixture.js";

/**
 * The gateway's transcoding, request and response, against an echo gRPC
 * server for a test service (test/gateway_fixture.ts) reached over a real
 * loopback channel: what the service receives for a given HTTP request, and
 * what HTTP response a given gRPC answer becomes.
 */
const registry = testRegistry();
const settings: TranscoderSettings = { ...transcoderSettings, services: ["test.v1.Echo"] };
let echo: Awaited<ReturnType<typeof startEcho>>;
let gateway: Gateway;
let base: string;

beforeAll(async () => {
  echo = await startEcho(registry);
  gateway = createGateway({ upstream: loopbackUpstream(echo.target, 2 << 20), logger: silentLogger, settings, registry });
  await new Promise<void>((resolve) => gateway.server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(gateway.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await gateway.close();
  await echo.stop();
});

async function call(method: string, path: string, init: { body?: string | Buffer; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${base}${path}`, { method, body: init.body as BodyInit | undefined, headers: init.headers });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A request exactly as given (fetch would add a content type). */
function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The request as the echo service decoded it. */
async function seen(method: string, path: string, init: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Echo> {
  const res = await call(method, path, init);
  expect(res.status, res.text).toBe(200);
  return JSON.parse(res.json.echo) as Echo;
}

const JSON_CT = { "content-type": "application/json" };

describe("requests", () => {
  test("path variables and query parameters by proto or JSON name, nested, repeated, typed", async () => {
    const e = await seen("GET", "/v1/things/t%2F1?name=a+b&inner.id=i1&inner.displayName=D&tags=x&tags=y&count=7&flag=true&colour=COLOUR_BLUE&page_size=3&big=1099511627776");
    expect(e.method).toBe("/test.v1.Echo/Get");
    expect(e.request).toEqual({ id: "t/1", name: "a b", inner: { id: "i1", displayName: "D" }, tags: ["x", "y"], count: 7, flag: true, colour: "COLOUR_BLUE", pageSize: 3, big: "1099511627776" });
    expect((await seen("GET", "/v1/things?pageSize=4&colour=1")).request).toEqual({ pageSize: 4, colour: "COLOUR_RED" });
  });

  test("well-known types from query strings: FieldMask (snake or camel paths), Timestamp", async () => {
    const e = await seen("GET", "/v1/things?update_mask=name,inner.display_name&at=2026-01-02T03:04:05Z");
    expect(e.request).toEqual({ updateMask: "name,inner.displayName", at: "2026-01-02T03:04:05Z" });
    expect((await seen("GET", "/v1/things?updateMask=inner.displayName")).request).toEqual({ updateMask: "inner.displayName" });
    // Given twice, a FieldMask merges as a message does (its paths appended), where a scalar keeps the last value.
    expect((await seen("GET", "/v1/things?update_mask=name&update_mask=inner.display_name,tags")).request).toEqual({ updateMask: "name,inner.displayName,tags" });
  });

  test("a parameter without = is ignored; a repeated scalar given twice keeps the last value (protobuf merge)", async () => {
    expect((await seen("GET", "/v1/things?flag&name=a&name=b")).request).toEqual({ name: "b" });
  });

  test.each([
    ["unknown name", "/v1/things?colour=COLOUR_RED&shape=round", /unknown query parameter "shape"/],
    ["escaped name (names are taken as written)", "/v1/things?page%5Fsize=2", /unknown query parameter/],
    ["message-typed field", "/v1/things?inner=x", /unknown query parameter "inner"/],
    ["HttpBody is not a query field either", "/v1/things?http_body=x", /unknown query parameter/],
    ["bad number", "/v1/things?count=many", /^count: expected number \(int32\)/],
    ["bad bool", "/v1/things?flag=yes", /^flag: expected boolean, got "yes"$/],
    ["unknown enum name", "/v1/things?colour=COLOUR_PINK", /^colour: "COLOUR_PINK" is not one of COLOUR_UNSPECIFIED, COLOUR_RED, COLOUR_BLUE/],
    ["enum number, as a string, that the enum does not declare", "/v1/things?colour=7", /^colour: "7" is not one of/],
    ["broken escape", "/v1/things?name=%ZZ", /broken percent-encoding in the query string/],
    ["query contradicts the path", "/v1/things/t1?id=t2", /query parameter id differs from the path/],
  ])("400 for a bad query: %s", async (_name, path, message) => {
    const before = echo.calls.length;
    const res = await call("GET", path);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: 3, message: expect.stringMatching(message) });
    expect(echo.calls.length).toBe(before); // refused before the service
  });

  test("JSON body into the body field; path bound into it; the body wins over equal bindings, differing ones are 400", async () => {
    const e = await seen("PATCH", "/v1/things/i1?update_mask=n", { body: JSON.stringify({ n: 5, display_name: "x", unknown_field: { deep: true } }), headers: JSON_CT });
    expect(e.request).toEqual({ inner: { id: "i1", n: 5, displayName: "x" }, updateMask: "n" });
    expect((await seen("PATCH", "/v1/things/i1", { body: JSON.stringify({ id: "i1" }), headers: JSON_CT })).request).toEqual({ inner: { id: "i1" } });
    const clash = await call("PATCH", "/v1/things/i1", { body: JSON.stringify({ id: "i2" }), headers: JSON_CT });
    expect(clash.status).toBe(400);
    expect(clash.json.message).toMatch(/path inner\.id differs from the body/);
  });

  test("body * with a custom verb; repeated fields get body and query values", async () => {
    const e = await seen("POST", "/v1/things/t1:act?tags=q", { body: JSON.stringify({ name: "n", tags: ["b"] }), headers: { "content-type": "application/json; charset=utf-8" } });
    expect(e).toMatchObject({ method: "/test.v1.Echo/Star", request: { id: "t1", name: "n", tags: ["b", "q"] } });
    // No content type at all is read as JSON (Envoy ignores the content type).
    const bare = await raw("POST", "/v1/things:act", '{"count": 2}');
    expect(bare.status).toBe(200);
    expect(JSON.parse(JSON.parse(bare.body).echo).request).toEqual({ count: 2 });
    // An empty body is an empty message.
    expect((await seen("POST", "/v1/things:act", { headers: JSON_CT })).request).toEqual({});
  });

  test.each([
    ["malformed JSON", '{"name": ', JSON_CT, 400, /malformed JSON/],
    ["not an object for body *", "[1]", JSON_CT, 400, /must be an object/],
    ["wrong type", '{"count": "many"}', JSON_CT, 400, /^count: expected number \(int32\), got "many"$/],
    ["unknown enum value", '{"colour": "COLOUR_PINK"}', JSON_CT, 400, /COLOUR_PINK/],
    ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), JSON_CT, 400, /not valid UTF-8/],
    ["a declared non-JSON type", "name=x", { "content-type": "application/x-www-form-urlencoded" }, 415, /must be application\/json/],
  ])("bad JSON body: %s -> %s", async (_name, body, headers, status, message) => {
    const before = echo.calls.length;
    const res = await call("POST", "/v1/things:act", { body, headers });
    expect(res.status).toBe(status);
    expect(res.json.message).toMatch(message);
    expect(echo.calls.length).toBe(before);
  });

  test("HttpBody: raw bytes and the request content type reach the service; path bindings still apply", async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    const res = await call("POST", "/v1/upload/u1?name=n", { body: bytes, headers: { "content-type": "application/octet-stream" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/x-echo; of=application/octet-stream");
    const raw = await fetch(`${base}/v1/upload/u1?http_body.content_type=text/evil`, { method: "POST", body: "grant_type=x&y=%ZZ", headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(Buffer.from(await raw.arrayBuffer()).toString()).toBe("grant_type=x&y=%ZZ"); // not parsed, not decoded
    const last = echo.calls[echo.calls.length - 1]!;
    // Bindings into the HttpBody field are skipped, as Envoy does.
    expect(last.request).toMatchObject({ id: "u1", httpBody: { contentType: "application/x-www-form-urlencoded" } });
    expect(echo.calls[echo.calls.length - 2]!.request).toMatchObject({ id: "u1", name: "n", httpBody: { data: bytes.toString("base64") } });
  });

  test("request headers become metadata, except hop-by-hop, host, content-*, te and grpc-*; Envoy's original path and method are added", async () => {
    const e = await seen("POST", "/v1/things:act?name=", {
      body: "{}",
      headers: { ...JSON_CT, authorization: "Bearer t0k", "x-custom": "v", "grpc-timeout": "1S", "grpc-status": "0", "x-data-bin": "AAEC", "x-envoy-original-path": "/spoofed" },
    });
    expect(e.metadata).toMatchObject({ authorization: "Bearer t0k", "x-custom": "v", "x-envoy-original-path": "/v1/things:act?name=", "x-envoy-original-method": "POST" });
    for (const dropped of ["host", "content-type", "content-length", "connection", "grpc-status", "x-data-bin", "transfer-encoding"]) expect(e.metadata).not.toHaveProperty(dropped);
  });

  test("413 for a body over max_request_body_size, declared or streamed, before the service sees it", async () => {
    const before = echo.calls.length;
    const big = "a".repeat(settings.maxRequestBodySize + 1);
    expect((await call("POST", "/v1/upload/u1", { body: big, headers: { "content-type": "text/plain" } })).status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${base}/v1/upload/u1`, { method: "POST", headers: { "content-type": "text/plain", "transfer-encoding": "chunked" } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      for (let i = 0; i < 20; i++) req.write("b".repeat(4096));
      req.end();
    });
    expect(chunked).toBe(413);
    expect(echo.calls.length).toBe(before);
    expect((await call("POST", "/v1/upload/u1", { body: "a".repeat(settings.maxRequestBodySize), headers: { "content-type": "text/plain" } })).status).toBe(200);
  });

  test("unmatched method or path: 404 google.rpc.Status, nothing called", async () => {
    const before = echo.calls.length;
    for (const [method, path] of [["GET", "/v1/nothing"], ["DELETE", "/v1/things/t1"], ["GET", "/test.v1.Echo/Get"], ["GET", "/v1/things/t1:unknownVerb/x"]] as const) {
      const res = await call(method, path);
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ code: 5 });
    }
    expect(echo.calls.length).toBe(before);
  });
});

/** A gateway of its own in front of an echo server, for settings or a test service that differ from the shared ones. */
async function otherGateway(overrides: Partial<TranscoderSettings>, target = echo.target, reg = registry) {
  const gw = createGateway({ upstream: loopbackUpstream(target, 2 << 20), logger: silentLogger, settings: { ...settings, ...overrides }, registry: reg });
  await new Promise<void>((resolve) => gw.server.listen(0, "127.0.0.1", resolve));
  return { base: `http://127.0.0.1:${(gw.server.address() as { port: number }).port}`, close: () => gw.close() };
}

describe("enum names, as Envoy's case_insensitive_enum_parsing reads them", () => {
  test("body and query: the name as written, a declared number as a string, else upper-cased with - as _; other string fields untouched", async () => {
    for (const colour of ["COLOUR_BLUE", "colour_blue", "Colour-Blue", "2", 2]) {
      const e = await seen("POST", "/v1/things:act", { body: JSON.stringify({ colour, name: "colour_blue" }), headers: JSON_CT });
      expect(e.request, String(colour)).toEqual({ colour: "COLOUR_BLUE", name: "colour_blue" });
    }
    expect((await seen("GET", "/v1/things?colour=colour-red&tags=colour_red")).request).toEqual({ colour: "COLOUR_RED", tags: ["colour_red"] });
  });

  test("with the setting off, only exact names (and declared numbers) decode", async () => {
    const strict = await otherGateway({ caseInsensitiveEnumParsing: false });
    try {
      const before = echo.calls.length;
      const res = await fetch(`${strict.base}/v1/things?colour=colour_red`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(/^colour: "colour_red" is not one of/);
      expect(echo.calls.length).toBe(before);
      expect((await fetch(`${strict.base}/v1/things?colour=COLOUR_RED`)).status).toBe(200);
      expect((await fetch(`${strict.base}/v1/things?colour=1`)).status).toBe(200);
    } finally {
      await strict.close();
    }
  });
});

const violationsOf = (json: { details: Array<{ "@type": string; field_violations?: Array<{ field: string; description: string }> }> }) =>
  (json.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest")?.field_violations ?? []).map(({ field, description }) => ({ field, description }));

describe("undecodable fields: every one named, as a google.rpc.BadRequest", () => {
  test("by proto field path, nested and indexed, all at once; the service is not called", async () => {
    const before = echo.calls.length;
    const body = { count: "many", colour: "COLOUR_PINK", flag: "yes", tags: ["a", 5, "b", true], inner: { n: "x", id: "fine" }, update_mask: 7, name: "fine" };
    const res = await call("POST", "/v1/things:act", { body: JSON.stringify(body), headers: JSON_CT });
    expect(res.status).toBe(400);
    expect(res.json.code).toBe(3);
    const fields = violationsOf(res.json).map((v) => v.field);
    expect(fields.sort()).toEqual(["colour", "count", "flag", "inner.n", "tags[1]", "tags[3]", "update_mask"]);
    expect(violationsOf(res.json).find((v) => v.field === "colour")!.description).toBe('"COLOUR_PINK" is not one of COLOUR_UNSPECIFIED, COLOUR_RED, COLOUR_BLUE (case-insensitive)');
    expect(res.json.message).toContain("inner.n: expected number (int32)");
    // A well-known type says what it takes, not only what it got.
    expect(violationsOf(res.json).find((v) => v.field === "update_mask")!.description).toBe("must be a string of comma-separated field paths, got 7");
    expect(echo.calls.length).toBe(before);
  });

  test("paths start at the request message: a body field's violations are under its name; a non-object message is named", async () => {
    const res = await call("PATCH", "/v1/things/i1", { body: JSON.stringify({ n: true }), headers: JSON_CT });
    expect(violationsOf(res.json)).toEqual([{ field: "inner.n", description: "expected number (int32), got true" }]);
    const notObject = await call("POST", "/v1/things:act", { body: JSON.stringify({ inner: "i1" }), headers: JSON_CT });
    expect(violationsOf(notObject.json)).toEqual([{ field: "inner", description: "must be a JSON object" }]);
  });
});

describe("undecodable fields of a method with AIP-163 validate_only", () => {
  const bool = FieldDescriptorProto_Type.BOOL;
  const withValidateOnly = testRegistry(TEST_METHODS, [{ name: "validate_only", number: 14, type: bool, typeName: undefined, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: "validateOnly" }]);
  let checker: Awaited<ReturnType<typeof startEcho>>;
  let gw: Awaited<ReturnType<typeof otherGateway>>;
  beforeAll(async () => {
    checker = await startEcho(withValidateOnly);
    gw = await otherGateway({}, checker.target, withValidateOnly);
  });
  afterAll(async () => {
    await gw.close();
    await checker.stop();
  });

  async function post(body: unknown, mode?: string) {
    const res = await fetch(`${gw.base}/v1/things:act`, { method: "POST", body: JSON.stringify(body), headers: { ...JSON_CT, ...(mode ? { "x-test-mode": mode } : {}) } });
    return { status: res.status, json: (await res.json()) as any };
  }

  test("the rest goes to the service with validate_only set, and its violations come in the same answer", async () => {
    const before = checker.calls.length;
    const res = await post({ count: "many", id: "" }, "details"); // the echo's "details" mode refuses `id`
    expect(res.status).toBe(400);
    expect(violationsOf(res.json).map((v) => v.field)).toEqual(["count", "id"]);
    expect(res.json.message).toBe('count: expected number (int32), got "many"; id: must not be empty');
    expect(checker.calls.slice(before).map((c) => c.request)).toEqual([{ validateOnly: true }]);
  });

  test("a service violation about a dropped field is not repeated; a service that accepts the rest, or refuses otherwise, leaves the decode violations", async () => {
    const dropped = await post({ id: 5 }, "details");
    expect(violationsOf(dropped.json)).toEqual([{ field: "id", description: "expected string, got 5" }]);
    for (const mode of [undefined, "fail:16", "fail:5"]) {
      const res = await post({ count: "many", name: "n" }, mode);
      expect(res.status, mode).toBe(400);
      expect(violationsOf(res.json).map((v) => v.field), mode).toEqual(["count"]);
    }
    expect(checker.calls[checker.calls.length - 1]!.request).toEqual({ name: "n", validateOnly: true });
  });

  test("a request that decodes is sent as it is (validate_only untouched)", async () => {
    expect(JSON.parse((await post({ count: 2 })).json.echo).request).toEqual({ count: 2 });
  });
});

describe("responses", () => {
  test("proto3 JSON with Envoy's print options: proto names, primitives printed, enums by name, int64 as string", async () => {
    const res = await call("GET", "/v1/things/t1");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.json).toMatchObject({ count: 0, flag: false, colour: "COLOUR_UNSPECIFIED", tags: [], display_name: "", big: "1099511627776" });
    expect(res.json).not.toHaveProperty("inner"); // unset message fields are not printed
    expect(res.json).not.toHaveProperty("http_body");
    expect(res.headers.get("grpc-status")).toBeNull();
  });

  test("initial metadata become headers (all values); x-http-code becomes the status and is removed; transport headers are not copied", async () => {
    const res = await call("GET", "/v1/things/t1", { headers: { "x-test-mode": "headers" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-multi")).toBe("a, b");
    expect(res.headers.get("x-http-code")).toBeNull();
    expect(res.headers.get("grpc-extra")).toBeNull();
    expect(Number(res.headers.get("content-length"))).toBe(Buffer.byteLength(res.text));
    expect((await call("GET", "/v1/things/t1", { headers: { "x-test-mode": "headers", "x-want-code": "nonsense" } })).status).toBe(500);
  });

  test("HttpBody response: raw bytes with their content type; an empty one is 200 application/json with no body", async () => {
    const res = await fetch(`${base}/v1/upload/u1`, { method: "POST", body: "hello", headers: { "content-type": "text/plain" } });
    expect(res.headers.get("content-type")).toBe("text/x-echo; of=text/plain");
    expect(await res.text()).toBe("hello");
    const empty = await call("POST", "/v1/upload/u1", { body: "x", headers: { "content-type": "text/plain", "x-test-mode": "empty" } });
    expect(empty).toMatchObject({ status: 200, text: "" });
    expect(empty.headers.get("content-type")).toBe("application/json");
  });

  test.each([
    [1, 499], [2, 500], [3, 400], [4, 504], [5, 404], [6, 409], [7, 403], [8, 429],
    [9, 400], [10, 409], [11, 400], [12, 501], [13, 500], [14, 503], [15, 500], [16, 401],
  ])("gRPC status %i -> HTTP %i with a google.rpc.Status body", async (code, status) => {
    const res = await call("GET", "/v1/things/t1", { headers: { "x-test-mode": `fail:${code}` } });
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.json).toEqual({ code, message: "it failed: 100% sure", details: [] });
  });

  test("error details from grpc-status-details-bin are rendered with their @type", async () => {
    const res = await call("GET", "/v1/things/t1", { headers: { "x-test-mode": "details" } });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: 3, message: "bad id" });
    expect(res.json.details).toHaveLength(1);
    expect(res.json.details[0]).toMatchObject({ "@type": "type.googleapis.com/google.rpc.BadRequest", field_violations: [{ field: "id", description: "must not be empty" }] });
    expect(res.headers.get("grpc-status-details-bin")).toBeNull();
  });

  test("trailers-only error metadata become headers; trailers after initial metadata do not (Envoy)", async () => {
    const auth = await call("GET", "/v1/things/t1", { headers: { "x-test-mode": "auth" } });
    expect(auth.status).toBe(401);
    expect(auth.headers.get("www-authenticate")).toBe('Bearer realm="test"');
    const late = await call("GET", "/v1/things/t1", { headers: { "x-test-mode": "late-error" } });
    expect(late.status).toBe(404);
    expect(late.headers.get("x-initial")).toBe("yes");
    expect(late.headers.get("x-trailer")).toBeNull();
  });

  test("a response that cannot be decoded is a 500; one over max_response_body_size is a 500; the gateway keeps serving", async () => {
    const garbage = await call("GET", "/v1/things/t1", { headers: { "x-test-mode": "garbage" } });
    expect(garbage.status).toBe(500);
    expect(garbage.json.code).toBe(13);
    const big = await call("GET", "/v1/things/t1", { headers: { "x-test-mode": `big:${settings.maxResponseBodySize}` } });
    expect(big.status).toBe(500);
    expect(big.json.message).toMatch(/response body too large/);
    expect((await call("GET", "/v1/things/t1")).status).toBe(200);
  });

  test("a client that goes away mid-call cancels the upstream call; one that goes away mid-body costs nothing", async () => {
    const started = new Promise((resolve) => echo.events.once("call", resolve));
    const cancelled = new Promise<Echo>((resolve) => echo.events.once("cancelled", resolve));
    const req = httpRequest(`${base}/v1/things/t-hang`, { headers: { "x-test-mode": "hang" } });
    req.on("error", () => {});
    req.end();
    await started;
    req.destroy();
    expect((await cancelled).request).toEqual({ id: "t-hang" });

    const before = echo.calls.length;
    const partial = httpRequest(`${base}/v1/things:act`, { method: "POST", headers: { "content-type": "application/json", "content-length": "1000" } });
    partial.on("error", () => {});
    partial.write('{"name": "half');
    await new Promise((resolve) => partial.once("socket", (s) => s.once("connect", resolve)));
    partial.destroy();
    expect((await call("GET", "/v1/things/t1")).status).toBe(200);
    expect(echo.calls.length).toBe(before + 1);
  });

  test("close() lets an in-flight request finish on its keep-alive connection, then closes", async () => {
    const other = createGateway({ upstream: loopbackUpstream(echo.target, 2 << 20), logger: silentLogger, settings, registry });
    await new Promise<void>((resolve) => other.server.listen(0, "127.0.0.1", resolve));
    const agent = new Agent({ keepAlive: true });
    try {
      const started = new Promise((resolve) => echo.events.once("call", resolve));
      const response = new Promise<{ status: number; connection?: string; body: string }>((resolve, reject) => {
        const req = httpRequest(`http://127.0.0.1:${(other.server.address() as { port: number }).port}/v1/things/t1`, { agent, headers: { "x-test-mode": "wait" } }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
        });
        req.on("error", reject);
        req.end();
      });
      await started;
      const closed = other.close();
      echo.events.emit("release");
      expect(await response).toMatchObject({ status: 200, connection: "close" });
      await closed; // not held open by the keep-alive connection
      expect(other.server.listening).toBe(false);
    } finally {
      agent.destroy();
    }
  });

  test("the service unreachable: 503 (UNAVAILABLE)", async () => {
    const down = createGateway({ upstream: loopbackUpstream("127.0.0.1:1", 2 << 20), logger: silentLogger, settings, registry });
    await new Promise<void>((resolve) => down.server.listen(0, "127.0.0.1", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(down.server.address() as { port: number }).port}/v1/things/t1`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: number }).code).toBe(14);
    } finally {
      await down.close();
    }
  });
});
