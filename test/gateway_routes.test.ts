import { describe, expect, test } from "vitest";
import { descriptorRegistry } from "../src/descriptor.js";
import { loopbackUpstream } from "../src/gateway/upstream.js";
import { createGateway } from "../src/gateway/index.js";
import { buildRoutes } from "../src/gateway/routes.js";
import { transcoderSettings } from "../src/gateway/settings.js";
import { silentLogger } from "../src/log.js";
import { TEST_METHODS, testRegistry, type Rule } from "./gateway_fixture.js";

/** Route tables are built once at start-up; anything Envoy would refuse to load fails it with a clear message. */
describe("route table", () => {
  test("every google.api.http rule of the authz services, additional bindings included", () => {
    const routes = buildRoutes(descriptorRegistry(), transcoderSettings.services);
    const annotated = transcoderSettings.services.flatMap((s) => descriptorRegistry().getService(s)!.methods);
    expect(routes.length).toBe(annotated.length); // every authz RPC has exactly one rule
    expect(routes.map((r) => `${r.httpMethod} ${r.template.source}`)).toEqual(
      expect.arrayContaining(["POST /v1/api-servers", "PATCH /v1/api-servers/{api_server.id}", "POST /v1/clients/{client_id}:rotateSecret", "POST /v1/keys:rotate", "POST /oauth/token", "GET /.well-known/jwks.json"]),
    );
    const token = routes.find((r) => r.template.source === "/oauth/token")!;
    expect(token.httpBodyRequestField?.name).toBe("http_body");
    expect(token.httpBodyResponseField?.name).toBe("http_body");

    const test = buildRoutes(testRegistry(), ["test.v1.Echo"]);
    expect(test.filter((r) => r.grpcPath === "/test.v1.Echo/Multi").map((r) => `${r.httpMethod} ${r.template.source}`)).toEqual(["GET /v1/a/{id}", "PUT /v1/b/{id}", "HEAD /v1/c/{id}"]);
    expect(test.some((r) => r.grpcPath === "/test.v1.Echo/Plain")).toBe(false);
  });

  test("auto_mapping adds POST /<package>.<Service>/<Method> (body *) for an RPC without the option", () => {
    const routes = buildRoutes(testRegistry(), ["test.v1.Echo"], true);
    const plain = routes.filter((r) => r.grpcPath === "/test.v1.Echo/Plain");
    expect(plain.map((r) => [r.httpMethod, r.template.source, r.body])).toEqual([["POST", "/test.v1.Echo/Plain", "*"]]);
  });

  const broken = (rule: Rule, name = "Broken") => () => buildRoutes(testRegistry({ ...TEST_METHODS, [name]: rule }), ["test.v1.Echo"]);
  test.each<[string, Rule, RegExp]>([
    ["the same method and template twice", { get: "/v1/things/{name}" }, /GET \/v1\/things\/\* is mapped twice \(\/test\.v1\.Echo\/Get and \/test\.v1\.Echo\/Broken\)/],
    ["a duplicate through additional_bindings", { post: "/v1/new", additionalBindings: [{ get: "/v1/things" }] }, /GET \/v1\/things is mapped twice/],
    ["a path variable naming no field", { get: "/v1/x/{nope}" }, /path variable nope names no field/],
    ["a path variable on a message field", { get: "/v1/x/{inner}" }, /inner must be a scalar field/],
    ["a path variable on a repeated field", { get: "/v1/x/{tags}" }, /tags must be a scalar field/],
    ["a body naming no field", { post: "/v1/x", body: "nope" }, /test\.v1\.Req has no field nope/],
    ["response_body that is not an HttpBody", { get: "/v1/x", responseBody: "echo" }, /response_body must name an HttpBody field/],
    ["a template Envoy cannot parse", { get: "/v1/{a=**}/{b}" }, /Broken: template .*only literal segments may follow \*\*/],
  ])("%s fails start-up", (_name, rule, message) => {
    expect(broken(rule)).toThrow(message);
  });

  test("an unknown service fails start-up, naming it", () => {
    expect(() => buildRoutes(descriptorRegistry(), [...transcoderSettings.services, "authz.v1.NoSuchService"])).toThrow("gateway: service authz.v1.NoSuchService is not in the descriptor");
    expect(() => createGateway({ upstream: loopbackUpstream("127.0.0.1:1", 2 << 20), logger: silentLogger, settings: { ...transcoderSettings, services: ["authz.v1.Nope"] } })).toThrow(/authz\.v1\.Nope is not in the descriptor/);
  });

  test("settings the embedded gateway cannot honour fail start-up", () => {
    const settings = { ...transcoderSettings, requestValidationOptions: { ...transcoderSettings.requestValidationOptions, rejectUnknownMethod: false } };
    expect(() => createGateway({ upstream: loopbackUpstream("127.0.0.1:1", 2 << 20), logger: silentLogger, settings })).toThrow(/rejectUnknownMethod must be true/);
  });
});
