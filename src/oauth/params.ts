import { InvalidRequest, InvalidTarget, type OAuthError } from "./errors.js";

/** Parameters of an OAuth request, decoded from the body (single values only). */
export type Params = ReadonlyMap<string, string>;

const MAX_PARAMS = 64;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes an OAuth request body. RFC 6749 §3.2 uses
 * `application/x-www-form-urlencoded`; `application/json` (an object of
 * string values) is also taken, as Auth0/AuthAction-style M2M clients send it.
 * RFC 6749 §3.1/§3.2: parameters must not be repeated — in either encoding
 * (JSON.parse would silently keep the last of two equal keys, so JSON bodies
 * are read by a strict parser); empty values count as absent.
 */
export function parseBody(contentType: string, data: Uint8Array): Params {
  const mediaType = contentType.split(";")[0]!.trim().toLowerCase();
  const text = decodeUtf8(data);
  if (mediaType === "application/x-www-form-urlencoded") return parseForm(text);
  if (mediaType === "application/json") return parseJsonObject(text);
  if (data.length === 0 && mediaType === "") return new Map();
  throw new InvalidRequest(`unsupported content type ${JSON.stringify(mediaType.slice(0, 100))}`, "the request body must be application/x-www-form-urlencoded or application/json");
}

function decodeUtf8(data: Uint8Array): string {
  try {
    return utf8.decode(data);
  } catch {
    throw new InvalidRequest("body is not valid UTF-8", "the request body is not valid UTF-8");
  }
}

function parseForm(text: string): Params {
  const params = new Map<string, string>();
  if (text === "") return params;
  const seen = new Set<string>();
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = formDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = formDecode(eq < 0 ? "" : pair.slice(eq + 1));
    add(params, seen, name, value);
  }
  return params;
}

/** application/x-www-form-urlencoded decoding that refuses broken percent-encoding instead of guessing. */
function formDecode(s: string): string {
  if (s.indexOf("%") < 0 && s.indexOf("+") < 0) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    throw new InvalidRequest("broken percent-encoding in form body", "the form body has broken percent-encoding");
  }
}

const WS = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NULL = /null/y;

/**
 * A flat JSON object of string (or null, meaning absent) members, parsed
 * strictly (RFC 8259) so a repeated member name is seen and refused.
 */
function parseJsonObject(text: string): Params {
  let pos = 0;
  const malformed = () => new InvalidRequest("malformed JSON body", "the JSON body is malformed");
  const skip = () => {
    WS.lastIndex = pos;
    WS.exec(text);
    pos = WS.lastIndex;
  };
  const token = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return undefined;
    pos = re.lastIndex;
    return m[0];
  };
  skip();
  if (text[pos] !== "{") {
    if (text.trim() === "") throw malformed();
    try {
      JSON.parse(text);
    } catch {
      throw malformed();
    }
    throw new InvalidRequest("JSON body is not an object", "the JSON body must be an object");
  }
  pos++;
  const params = new Map<string, string>();
  const seen = new Set<string>();
  skip();
  if (text[pos] === "}") pos++;
  else {
    for (;;) {
      skip();
      const key = token(STRING);
      if (key === undefined) throw malformed();
      const name = JSON.parse(key) as string;
      skip();
      if (text[pos++] !== ":") throw malformed();
      skip();
      const value = token(STRING);
      if (value === undefined) {
        if (token(NULL) === undefined) {
          // Valid JSON of another type is the caller's mistake, named; anything else is malformed.
          try {
            JSON.parse(text);
          } catch {
            throw malformed();
          }
          throw new InvalidRequest(`JSON parameter ${safeName(name)} is not a string`, `parameter ${safeName(name)} must be a string`);
        }
      }
      add(params, seen, name, value === undefined ? "" : (JSON.parse(value) as string));
      skip();
      const next = text[pos++];
      if (next === "}") break;
      if (next !== ",") throw malformed();
    }
  }
  skip();
  if (pos !== text.length) throw malformed();
  return params;
}

function repeated(name: string): OAuthError {
  // RFC 8707 §2 allows several `resource`s, but a token here has one audience.
  if (name === "resource") return new InvalidTarget("several resources", "only one resource per token request is supported");
  return new InvalidRequest(`repeated parameter ${safeName(name)}`, `parameter ${safeName(name)} is repeated`);
}

/** Empty values count as absent, but a name given twice is refused even when one of them was empty. */
function add(params: Map<string, string>, seen: Set<string>, name: string, value: string): void {
  if (seen.has(name)) throw repeated(name);
  seen.add(name);
  if (seen.size > MAX_PARAMS) throw new InvalidRequest("too many parameters", "the request has too many parameters");
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
