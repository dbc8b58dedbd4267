import { describe, expect, test } from "vitest";
import { descriptorRegistry } from "../src/descriptor.js";
import { BadPath, createMatcher, type MatchOptions } from "../src/gateway/match.js";
import { buildRoutes } from "../src/gateway/routes.js";
import { transcoderSettings } from "../src/gateway/settings.js";
import { testRegistry } from "./gateway_fixture.js";

const envoyDefaults: MatchOptions = { urlUnescapeSpec: "ALL_CHARACTERS_EXCEPT_RESERVED", matchUnregisteredCustomVerb: false };
const match = createMatcher(buildRoutes(testRegistry(), ["test.v1.Echo"]), envoyDefaults);
const hit = (method: string, path: string) => {
  const m = match(method, path);
  return m && { rpc: m.route.grpcPath.replace("/test.v1.Echo/", ""), bindings: Object.fromEntries(m.bindings) };
};

describe("route matching (Envoy's path matcher trie)", () => {
  test("a literal segment beats a variable; variables bind the segment", () => {
    expect(hit("GET", "/v1/things/special")).toEqual({ rpc: "Special", bindings: {} });
    expect(hit("GET", "/v1/things/t1")).toEqual({ rpc: "Get", bindings: { id: "t1" } });
    expect(hit("GET", "/v1/things")).toEqual({ rpc: "List", bindings: {} });
  });

  test("method-specific: a path mapped for GET only is no match for POST or DELETE (404, not 405)", () => {
    expect(hit("DELETE", "/v1/things/t1")).toBeUndefined();
    expect(hit("POST", "/v1/things/t1")).toBeUndefined();
    expect(hit("POST", "/v1/things")?.rpc).toBe("Create");
  });

  test("custom verbs: registered ones select the route; an unregistered :suffix is part of the segment", () => {
    expect(hit("POST", "/v1/things/t1:act")).toEqual({ rpc: "Star", bindings: { id: "t1" } });
    expect(hit("POST", "/v1/things:act")).toEqual({ rpc: "Collection", bindings: {} });
    expect(hit("GET", "/v1/things/t1:other")).toEqual({ rpc: "Get", bindings: { id: "t1:other" } });
    expect(hit("POST", "/v1/things/t1:other")).toBeUndefined();
    // A verb is only looked for after the last slash.
    expect(hit("GET", "/v1/things:act/x")).toBeUndefined();
    const lenient = createMatcher(buildRoutes(testRegistry(), ["test.v1.Echo"]), { ...envoyDefaults, matchUnregisteredCustomVerb: true });
    expect(lenient("GET", "/v1/things/t1:other")).toBeUndefined();
  });

  test("** takes any number of segments, backtracking to a literal tail; * beats **", () => {
    expect(hit("GET", "/v1/files/a")).toEqual({ rpc: "Files", bindings: { path: "a" } });
    expect(hit("GET", "/v1/files/a/b/c")).toEqual({ rpc: "Files", bindings: { path: "a/b/c" } });
    expect(hit("GET", "/v1/files/a/b/meta")).toEqual({ rpc: "FilesTail", bindings: { path: "a/b" } });
    expect(hit("GET", "/v1/files")).toEqual({ rpc: "Files", bindings: { path: "" } });
    expect(hit("GET", "/v1/shelves/s1/books/b1")).toEqual({ rpc: "Shelf", bindings: { path: "shelves/s1", id: "b1" } });
  });

  test("trailing slashes are dropped as Envoy does; an empty middle segment only matches a variable", () => {
    expect(hit("GET", "/v1/things/")?.rpc).toBe("List");
    expect(hit("GET", "/v1/things/t1//")).toEqual({ rpc: "Get", bindings: { id: "t1" } });
    expect(hit("GET", "//v1/things")).toBeUndefined();
    expect(hit("GET", "/v1//books/b1")).toBeUndefined();
    expect(hit("GET", "/v1/shelves//books/b1")).toEqual({ rpc: "Shelf", bindings: { path: "shelves/", id: "b1" } });
  });

  test("additional_bindings and custom methods (HEAD, * = any method)", () => {
    expect(hit("GET", "/v1/a/x")).toEqual({ rpc: "Multi", bindings: { id: "x" } });
    expect(hit("PUT", "/v1/b/x")).toEqual({ rpc: "Multi", bindings: { id: "x" } });
    expect(hit("HEAD", "/v1/c/x")?.rpc).toBe("Multi");
    expect(hit("GET", "/v1/c/x")).toBeUndefined();
    expect(hit("OPTIONS", "/v1/any")?.rpc).toBe("Anything");
    expect(hit("DELETE", "/v1/any")?.rpc).toBe("Anything");
  });

  test("decoding: a one-segment variable fully; a multi-segment one keeps reserved characters encoded", () => {
    expect(hit("GET", "/v1/things/as%2F7%20%C3%A9")?.bindings).toEqual({ id: "as/7 é" });
    expect(hit("GET", "/v1/files/a%2Fb/c%3Ad%20e")?.bindings).toEqual({ path: "a%2Fb/c%3Ad e" });
    // ** over a single segment is still multi-segment (Envoy: is_multipart when end_segment < 0).
    expect(hit("GET", "/v1/files/a%2Fb")?.bindings).toEqual({ path: "a%2Fb" });
    const all = createMatcher(buildRoutes(testRegistry(), ["test.v1.Echo"]), { ...envoyDefaults, urlUnescapeSpec: "ALL_CHARACTERS" });
    expect(Object.fromEntries(all("GET", "/v1/files/a%2Fb/c%3Ad")!.bindings)).toEqual({ path: "a/b/c:d" });
  });

  test("broken percent-encoding in a matched path is BadPath (400), not a crash", () => {
    expect(() => match("GET", "/v1/things/%E0%A4%A")).toThrow(BadPath);
    expect(() => match("GET", "/v1/things/%FF")).toThrow(BadPath);
    // An unmatched path is simply no match, whatever its encoding.
    expect(match("GET", "/v1/nothing/%ZZ")).toBeUndefined();
  });

  test("the authz routes: custom verbs next to variables, dotted literals", () => {
    const authz = createMatcher(buildRoutes(descriptorRegistry(), transcoderSettings.services), transcoderSettings);
    const rpc = (method: string, path: string) => authz(method, path)?.route.grpcPath;
    expect(rpc("POST", "/v1/clients/c1:rotateSecret")).toBe("/authz.v1.ClientService/RotateClientSecret");
    expect(rpc("GET", "/v1/clients/c1")).toBe("/authz.v1.ClientService/GetClient");
    expect(rpc("POST", "/v1/keys:rotate")).toBe("/authz.v1.KeyService/RotateKeys");
    expect(rpc("GET", "/v1/keys")).toBe("/authz.v1.KeyService/ListKeys");
    expect(rpc("POST", "/v1/keys")).toBeUndefined();
    expect(rpc("GET", "/.well-known/jwks.json")).toBe("/authz.v1.OAuthService/GetJwks");
    expect(rpc("POST", "/oauth/token")).toBe("/authz.v1.OAuthService/Token");
    expect(rpc("GET", "/oauth/token")).toBeUndefined();
    expect(rpc("PATCH", "/v1/api-servers/as_1")).toBe("/authz.v1.ApiServerService/UpdateApiServer");
    expect(Object.fromEntries(authz("PATCH", "/v1/api-servers/as_1")!.bindings)).toEqual({ "api_server.id": "as_1" });
  });
});
