import { InvalidRequest, InvalidTarget } from "./errors.js";

/** Parameters of an OAuth request, decoded from the body (single values only). */
export type Params = ReadonlyMap<string, string>;

const MAX_PARAMS = 64;

/**
 * Decodes an OAuth request body. RFC 6749 §3.2 uses
 * `application/x-www-form-urlencoded`; `application/json` (an object of
 * string values) is also taken, as Auth0/AuthAction-style M2M clients send it.
 * RFC 6749 §3.1/§3.2: parameters must not be repeated; empty values count as
 * absent.
 */
export function parseBody(contentType: string, data: Uint8Array): Params {
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
  const text = decodeUtf8(data);
  if (mediaType === "application/x-www-form-urlencoded") return parseForm(text);
  if (mediaType === "application/json") return parseJson(text);
  if (data.length === 0 && mediaType === "") return new Map();
  throw new InvalidRequest(`unsupported content type ${JSON.stringify(mediaType)}`, "the request body must be application/x-www-form-urlencoded or application/json");
}

function decodeUtf8(data: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    throw new InvalidRequest("body is not valid UTF-8", "the request body is not valid UTF-8");
  }
}

function parseForm(text: string): Params {
  const params = new Map<string, string>();
  if (text === "") return params;
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = formDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = formDecode(eq < 0 ? "" : pair.slice(eq + 1));
    add(params, name, value);
  }
  return params;
}

/** application/x-www-form-urlencoded decoding that refuses broken percent-encoding instead of guessing. */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    throw new InvalidRequest("broken percent-encoding in form body", "the form body has broken percent-encoding");
  }
}

function parseJson(text: string): Params {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidRequest("malformed JSON body", "the JSON body is malformed");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidRequest("JSON body is not an object", "the JSON body must be an object");
  }
  const params = new Map<string, string>();
  for (const [name, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    if (typeof v !== "string") throw new InvalidRequest(`JSON parameter ${name} is not a string`, `parameter ${safeName(name)} must be a string`);
    add(params, name, v);
  }
  return params;
}

function add(params: Map<string, string>, name: string, value: string): void {
  // RFC 8707 §2 allows several `resource`s, but a token here has one audience.
  if (name === "resource" && params.has(name)) throw new InvalidTarget("several resources", "only one resource per token request is supported");
  if (params.has(name)) throw new InvalidRequest(`repeated parameter ${name}`, `parameter ${safeName(name)} is repeated`);
  if (params.size >= MAX_PARAMS) throw new InvalidRequest("too many parameters", "the request has too many parameters");
  if (value !== "") params.set(name, value);
}

/** Echo a parameter name only when it is a plain identifier (never arbitrary caller input). */
function safeName(name: string): string {
  return /^[a-z_]{1,40}$/.test(name) ? name : "(unnamed)";
}

/** Reads a required parameter or throws invalid_request naming it. */
export function required(params: Params, name: string): string {
  const v = params.get(name);
  if (v === undefined) throw new InvalidRequest(`missing ${name}`, `missing required parameter ${name}`);
  return v;
}
