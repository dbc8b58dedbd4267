import { describe, expect, test } from "vitest";
import { BadEncoding, unescape } from "../src/gateway/percent.js";
import { parseQuery } from "../src/gateway/request.js";
import { parseTemplate, templateKey } from "../src/gateway/template.js";

describe("path templates (google/api/http.proto grammar, as Envoy parses them)", () => {
  test("literals, variables, verbs", () => {
    expect(parseTemplate("/v1/api-servers/{id}")).toMatchObject({ segments: ["v1", "api-servers", "*"], variables: [{ fieldPath: "id", start: 2, end: 3 }] });
    expect(parseTemplate("/v1/clients/{client_id}:rotateSecret")).toMatchObject({ segments: ["v1", "clients", "*"], verb: "rotateSecret" });
    expect(parseTemplate("/v1/keys:rotate")).toMatchObject({ segments: ["v1", "keys"], verb: "rotate", variables: [] });
    expect(parseTemplate("/.well-known/jwks.json").segments).toEqual([".well-known", "jwks.json"]);
    expect(parseTemplate("/v1/api-servers/{api_server.id}").variables).toEqual([{ fieldPath: "api_server.id", start: 2, end: 3 }]);
    expect(parseTemplate("/").segments).toEqual([]);
  });

  test("a variable spans the segments of its pattern, literals included", () => {
    const t = parseTemplate("/v1/{name=shelves/*/books/*}:get");
    expect(t.segments).toEqual(["v1", "shelves", "*", "books", "*"]);
    expect(t.variables).toEqual([{ fieldPath: "name", start: 1, end: 5 }]);
  });

  test("a variable holding ** ends relative to the end of the path; only literals may follow", () => {
    expect(parseTemplate("/v1/files/{path=**}").variables).toEqual([{ fieldPath: "path", start: 2, end: -1 }]);
    expect(parseTemplate("/v1/files/{path=**}/meta").variables).toEqual([{ fieldPath: "path", start: 2, end: -2 }]);
    expect(parseTemplate("/v1/{path=a/**}/x/y:v").variables).toEqual([{ fieldPath: "path", start: 1, end: -3 }]);
    expect(() => parseTemplate("/v1/**/*")).toThrow(/only literal segments may follow \*\*/);
    expect(() => parseTemplate("/v1/{a=**}/{b}")).toThrow(/only literal segments/);
  });

  test.each([
    ["v1/x", /must start with \//],
    ["/v1//x", /empty segment/],
    ["/v1/{a={b}}", /cannot nest/],
    ["/v1/{a", /unterminated/],
    ["/v1/{a-b}", /bad field path/],
    ["/v1/x:verb/y", /unexpected/],
    ["/v1/x}", /unexpected/],
  ])("%s is refused", (source, message) => {
    expect(() => parseTemplate(source)).toThrow(message);
  });

  test("the duplicate key erases variable names (Envoy's trie sees only * and **)", () => {
    expect(templateKey(parseTemplate("/v1/things/{id}"))).toBe(templateKey(parseTemplate("/v1/things/{name}")));
    expect(templateKey(parseTemplate("/v1/things/{id}:act"))).not.toBe(templateKey(parseTemplate("/v1/things/{id}")));
  });
});

describe("percent-decoding (grpc-httpjson-transcoding UrlUnescapeString)", () => {
  test("fully, or keeping RFC 6570 reserved characters, or only the slash", () => {
    expect(unescape("as%2F7%20x", "all", false, "path")).toBe("as/7 x");
    expect(unescape("a%2Fb%3Ac%20d%C3%A9", "all-except-reserved", false, "path")).toBe("a%2Fb%3Ac dé");
    expect(unescape("a%2Fb%3Ac", "all-except-slash", false, "path")).toBe("a%2Fb:c");
    expect(unescape("a+b%2B", "all", true, "query")).toBe("a b+");
    expect(unescape("a+b", "all", false, "query")).toBe("a+b");
  });

  test("broken escapes and escapes that are not UTF-8 are refused (Envoy would pass them on)", () => {
    for (const bad of ["%", "%4", "%ZZ", "a%E0%A4%A", "%FF"]) expect(() => unescape(bad, "all", false, "path")).toThrow(BadEncoding);
  });
});

describe("query strings (Envoy's ExtractBindingsFromQueryParameters)", () => {
  test("& split; no = or an empty name is ignored; names as written; values decoded", () => {
    expect(parseQuery("a=1&flag&=x&b=%20&c=&page%5Fsize=2", true)).toEqual([
      ["a", "1"],
      ["b", " "],
      ["c", ""],
      ["page%5Fsize", "2"],
    ]);
    expect(parseQuery("filter=name+%3D+%22x+y%22", true)).toEqual([["filter", 'name = "x y"']]);
    expect(parseQuery("filter=a+b", false)).toEqual([["filter", "a+b"]]);
    expect(() => parseQuery("filter=%ZZ", true)).toThrow(/percent-encoding/);
  });
});
