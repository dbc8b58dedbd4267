import { describe, expect, test } from "vitest";
import { parseBody } from "../../../src/oauth/params.js";

const form = (s: string) => parseBody("application/x-www-form-urlencoded", Buffer.from(s));
const json = (s: string) => parseBody("application/json; charset=utf-8", Buffer.from(s));
const error = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return { error: (err as { error: string }).error, description: (err as { description: string }).description };
  }
  throw new Error("expected a refusal");
};

describe("OAuth request bodies (RFC 6749 §3.2)", () => {
  test("form: percent and + decoding; empty values are absent", () => {
    expect(Object.fromEntries(form("grant_type=client_credentials&scope=a+b%3Ac&audience="))).toEqual({ grant_type: "client_credentials", scope: "a b:c" });
  });

  test("a repeated parameter is invalid_request in either encoding, also when one of the values is empty; two resources are invalid_target", () => {
    expect(error(() => form("grant_type=a&grant_type=b"))).toEqual({ error: "invalid_request", description: "parameter grant_type is repeated" });
    expect(error(() => form("audience=&audience=x")).error).toBe("invalid_request");
    expect(error(() => json('{"grant_type":"client_credentials","grant_type":"client_credentials"}'))).toEqual({ error: "invalid_request", description: "parameter grant_type is repeated" });
    expect(error(() => json('{"audience":"a","audience":"b"}')).error).toBe("invalid_request");
    expect(error(() => json('{"resource":"https://a","resource":"https://b"}')).error).toBe("invalid_target");
  });

  test("JSON: strings and nulls (absent) only; escapes decoded; the malformed, non-objects and other types are refused with their own messages", () => {
    expect(Object.fromEntries(json(' { "client_id" : "c\\u0041" , "scope": null } '))).toEqual({ client_id: "cA" });
    expect(json("{}").size).toBe(0);
    expect(error(() => json('{"client_id": 7}'))).toEqual({ error: "invalid_request", description: "parameter client_id must be a string" });
    expect(error(() => json("[1]")).description).toBe("the JSON body must be an object");
    for (const bad of ['{"a":"b",}', '{"a":"b"', '{"a" "b"}', "", '{"a":"b"} x', '{"a":"\\x"}']) expect(error(() => json(bad)).description, bad).toBe("the JSON body is malformed");
  });

  test("other media types and invalid UTF-8 are invalid_request", () => {
    expect(error(() => parseBody("text/plain", Buffer.from("a=b"))).error).toBe("invalid_request");
    expect(error(() => parseBody("application/json", Buffer.from([0x7b, 0xff, 0x7d]))).description).toBe("the request body is not valid UTF-8");
  });
});
