import { fromJson, ScalarType, toBinary, type DescEnum, type DescField, type DescMessage, type FileRegistry, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Match } from "./match.js";
import { BadEncoding, unescape } from "./percent.js";
import type { FieldRef, Route } from "./routes.js";
import type { TranscoderSettings } from "./settings.js";
import { hasOwnJsonForm, undecodable } from "./undecodable.js";

/** A request the gateway refuses before calling the service: HTTP status + message. */
export class GatewayError extends Error {
  override name = "GatewayError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Well-known message types whose proto3 JSON form is a string, so they can come from a query parameter. */
const STRING_WKTS = new Set(["google.protobuf.FieldMask", "google.protobuf.Timestamp", "google.protobuf.Duration"]);
const WRAPPERS = /^google\.protobuf\.(Bool|String|Bytes|Int32|UInt32|Int64|UInt64|Float|Double)Value$/;
const JSON_CONTENT_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i;
const utf8 = new TextDecoder("utf-8", { fatal: true });

interface Binding extends FieldRef {
  value: string;
  fromQuery: boolean;
}

/**
 * Builds the gRPC request bytes for a matched route, as Envoy's request
 * translator does: the body (JSON through the proto3 JSON mapping with
 * unknown fields ignored, or raw into an HttpBody field with the request's
 * content type), with path and query bindings woven in (the body wins).
 */
export function buildRequest(
  registry: FileRegistry,
  settings: TranscoderSettings,
  match: Match,
  query: string,
  contentType: string,
  body: Buffer,
): Uint8Array {
  const { route } = match;
  const input = route.method.input;
  const bindings: Binding[] = [];
  for (const [variable, value] of match.bindings) bindings.push({ ...fieldRef(route, variable)!, value, fromQuery: false });
  if (query) {
    for (const [name, value] of parseQuery(query, settings.queryParamUnescapePlus)) {
      const ref = fieldRef(route, name);
      if (!ref) {
        if (settings.requestValidationOptions.rejectUnknownQueryParameters && !settings.ignoreUnknownQueryParameters) {
          throw new GatewayError(400, `unknown query parameter ${JSON.stringify(name.slice(0, 64))}`);
        }
        continue;
      }
      bindings.push({ ...ref, value, fromQuery: true });
    }
  }

  if (route.httpBodyRequestField) return withHttpBody(registry, route, bindings, contentType, body, settings);

  let json: Record<string, JsonValue> = {};
  // Envoy parses whatever body arrives as JSON; a body that declares another
  // media type is refused here with 415 instead (see settings.ts).
  if (route.body && body.length > 0) {
    if (contentType && !JSON_CONTENT_TYPE.test(contentType)) throw new GatewayError(415, "the request body must be application/json");
    const parsed = parseJson(body);
    if (route.body === "*") {
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new GatewayError(400, "the JSON body must be an object");
      json = parsed as Record<string, JsonValue>;
    } else {
      json = { [route.body]: parsed };
    }
  }
  return encode(registry, input, json, bindings, settings);
}

/**
 * JSON + bindings -> protobuf bytes of the request message. A request that
 * does not decode is refused with every undecodable field named
 * (UndecodableFields), or, when no single field is to blame, the decoder's
 * message.
 */
function encode(registry: FileRegistry, input: DescMessage, json: Record<string, JsonValue>, bindings: Binding[], settings: TranscoderSettings): Uint8Array {
  const setBy = new Map<string, "path" | "query">();
  for (const b of bindings) weave(json, b, setBy, settings.requestValidationOptions.rejectBindingBodyFieldCollisions);
  const read = readAsEnvoy(input, json, settings.caseInsensitiveEnumParsing) as JsonObject;
  let message;
  try {
    message = fromJson(input, read, { registry });
  } catch (err) {
    throw undecodable(registry, input, read, settings.caseInsensitiveEnumParsing) ?? new GatewayError(400, (err as Error).message.replace(/^cannot decode message [\w.]+ from JSON: /, "invalid value: "));
  }
  return toBinary(input, message);
}

/**
 * An HttpBody request, built as Envoy's http_body_utils does: the other fields
 * from the bindings, then the HttpBody field appended as a hand-written
 * envelope around the raw bytes and the request's content type (protobuf
 * concatenation is merging). Bindings into the HttpBody field are skipped.
 */
function withHttpBody(registry: FileRegistry, route: Route, bindings: Binding[], contentType: string, body: Buffer, settings: TranscoderSettings): Uint8Array {
  const field = route.httpBodyRequestField!;
  const others = bindings.filter((b) => b.path[0] !== field.name);
  const rest = others.length > 0 ? encode(registry, route.method.input, {}, others, settings) : undefined;
  const w = new BinaryWriter().tag(field.number, WireType.LengthDelimited).fork();
  if (contentType) w.tag(1, WireType.LengthDelimited).string(contentType); // google.api.HttpBody.content_type
  if (body.length > 0) w.tag(2, WireType.LengthDelimited).bytes(body); // google.api.HttpBody.data
  const envelope = w.join().finish();
  if (!rest || rest.length === 0) return envelope;
  const out = new Uint8Array(rest.length + envelope.length);
  out.set(rest);
  out.set(envelope, rest.length);
  return out;
}

/**
 * The JSON as Envoy's request translator (protobuf's ProtoStreamObjectWriter)
 * reads it, recursively through message-typed fields: keys that name no field
 * are dropped (Envoy runs it with ignore_unknown_fields), and enum strings
 * are resolved as protobuf's DataPiece::ToEnum does (see enumValue). An
 * unknown enum value stays an error: Envoy leaves ignore_unknown_enum_values off.
 */
function readAsEnvoy(message: DescMessage, json: JsonValue, caseInsensitive: boolean): JsonValue {
  if (typeof json !== "object" || json === null || Array.isArray(json) || hasOwnJsonForm(message)) return json;
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = message.fields.find((f) => f.name === key || f.jsonName === key);
    if (!field) continue;
    const one = (v: JsonValue): JsonValue => (field.message ? readAsEnvoy(field.message, v, caseInsensitive) : field.enum ? enumValue(field.enum, v, caseInsensitive) : v);
    if (field.fieldKind === "list" && Array.isArray(value)) out[key] = value.map(one);
    else if (field.fieldKind === "map" && typeof value === "object" && value !== null && !Array.isArray(value)) out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, one(v)]));
    else out[key] = field.fieldKind === "list" || field.fieldKind === "map" ? value : one(value);
  }
  return out;
}

/**
 * An enum value given as a string, looked up in protobuf's order
 * (DataPiece::ToEnum, used by Envoy's transcoder for the body and for path and
 * query bindings alike): the name as written; a number written as a string,
 * if the enum declares it; then, with case_insensitive_enum_parsing, the name
 * upper-cased (ASCII) with `-` read as `_`, so "rs256" and "client-secret-post"
 * find RS256 and CLIENT_SECRET_POST. Anything else is left for the decoder to refuse.
 */
function enumValue(desc: DescEnum, value: JsonValue, caseInsensitive: boolean): JsonValue {
  if (typeof value !== "string" || desc.values.some((v) => v.name === value)) return value;
  if (/^-?\d+$/.test(value) && desc.value[Number(value)]) return Number(value);
  if (!caseInsensitive) return value;
  const normalized = value.replace(/[a-z-]/g, (c) => (c === "-" ? "_" : c.toUpperCase()));
  return desc.values.some((v) => v.name === normalized) ? normalized : value;
}

function parseJson(body: Buffer): JsonValue {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new GatewayError(400, "the request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new GatewayError(400, `malformed JSON: ${(err as Error).message}`);
  }
}

/**
 * Splits a query string as Envoy does (ExtractBindingsFromQueryParameters):
 * `&`-separated; a parameter without `=` or with an empty name is ignored; the
 * name is taken as written (a dotted field path); the value is fully
 * percent-decoded, `+` a space only when `query_param_unescape_plus` is set.
 */
export function parseQuery(query: string, unescapePlus: boolean): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) continue;
    try {
      out.push([pair.slice(0, eq), unescape(pair.slice(eq + 1), "all", unescapePlus, "query string")]);
    } catch (err) {
      if (err instanceof BadEncoding) throw new GatewayError(400, err.message);
      throw err;
    }
  }
  return out;
}

/** A binding name resolved against the route's request type, remembered per route (known names only, so the cache stays small). */
function fieldRef(route: Route, name: string): FieldRef | undefined {
  let ref = route.fieldRefs.get(name);
  if (!ref) {
    ref = resolve(route.method.input, name);
    if (ref) route.fieldRefs.set(name, ref);
  }
  return ref;
}

/**
 * Resolves a dotted field path, by proto or lowerCamel JSON names, to a leaf a
 * binding may set: a scalar or enum, a repeated one, or a well-known type whose
 * JSON form is a string (FieldMask, Timestamp, Duration, wrappers).
 */
export function resolve(message: DescMessage, dotted: string): FieldRef | undefined {
  const path: string[] = [];
  let current: DescMessage | undefined = message;
  const parts = dotted.split(".");
  for (let i = 0; i < parts.length; i++) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === parts[i] || f.jsonName === parts[i]);
    if (!field) return undefined;
    path.push(field.name);
    if (i === parts.length - 1) {
      const ok =
        field.fieldKind === "scalar" ||
        field.fieldKind === "enum" ||
        (field.fieldKind === "list" && field.listKind !== "message") ||
        (field.fieldKind === "message" && (STRING_WKTS.has(field.message.typeName) || WRAPPERS.test(field.message.typeName)));
      return ok ? { path, leaf: field } : undefined;
    }
    if (field.fieldKind !== "message") return undefined;
    current = field.message;
  }
  return undefined;
}

/**
 * Weaves a binding into the JSON request like Envoy's RequestWeaver: a field
 * the body sets keeps the body's value (a differing binding is a 400 with
 * `reject_binding_body_field_collisions`); a repeated field gets the binding
 * appended; a field bound twice by the query keeps the last value, a
 * FieldMask both (protobuf merge). Deliberate difference: a query parameter that contradicts a path
 * variable is a 400 here, where Envoy would let the query value win.
 */
function weave(json: Record<string, JsonValue>, b: Binding, setBy: Map<string, "path" | "query">, rejectCollisions: boolean): void {
  let node = json;
  for (const name of b.path.slice(0, -1)) {
    const key = keyOf(node, name) ?? name;
    const existing = node[key];
    if (existing === undefined || existing === null) node = node[key] = {};
    else if (typeof existing === "object" && !Array.isArray(existing)) node = existing as Record<string, JsonValue>;
    else throw new GatewayError(400, `field ${b.path.join(".")} conflicts with the body`);
  }
  const name = b.path[b.path.length - 1]!;
  const value = jsonValue(b.leaf, b.value);
  const key = keyOf(node, name);
  if (b.leaf.fieldKind === "list") {
    const list = key !== undefined ? node[key] : undefined;
    if (Array.isArray(list)) list.push(value);
    else node[key ?? name] = [value];
    return;
  }
  const dotted = b.path.join(".");
  const origin = setBy.get(dotted);
  const differs = key !== undefined && String(node[key]) !== String(value);
  if (origin === undefined && key !== undefined && node[key] !== null) {
    // The body sets it: the body wins.
    if (rejectCollisions && differs) throw new GatewayError(400, `${b.fromQuery ? "query parameter" : "path"} ${dotted} differs from the body`);
    return;
  }
  if (origin === "path" && b.fromQuery) {
    if (differs) throw new GatewayError(400, `query parameter ${dotted} differs from the path`);
    return;
  }
  // An earlier query value: a scalar's last one wins; a FieldMask's paths add up (a message merges, its
  // repeated `paths` appended), so `update_mask=a&update_mask=b` is both, as on the wire through Envoy.
  const merged = origin === "query" && key !== undefined && isFieldMask(b.leaf) ? `${String(node[key])},${String(value)}` : value;
  node[key ?? name] = merged;
  setBy.set(dotted, b.fromQuery ? "query" : "path");
}

function isFieldMask(field: DescField): boolean {
  return field.fieldKind === "message" && field.message.typeName === "google.protobuf.FieldMask";
}

function keyOf(node: Record<string, JsonValue>, name: string): string | undefined {
  if (name in node) return name;
  const c = camel(name);
  return c in node ? c : undefined;
}

/** A binding's string as the JSON value the proto3 JSON mapping expects for the field. */
function jsonValue(field: DescField, value: string): JsonValue {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  // Bools as JSON booleans; any other text is left for the decoder to refuse (and name).
  if (kind === "scalar" && (field.fieldKind === "scalar" || field.fieldKind === "list") && field.scalar === ScalarType.BOOL && (value === "true" || value === "false")) return value === "true";
  // Enums stay strings: names, and numbers written as strings, are resolved with the body's (enumValue).
  if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.FieldMask") {
    // Accept snake_case paths too (the JSON form is lowerCamel).
    return value
      .split(",")
      .map((p) => p.trim().split(".").map(camel).join("."))
      .join(",");
  }
  return value; // numbers as strings are valid proto3 JSON
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
