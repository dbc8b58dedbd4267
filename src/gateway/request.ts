import { create, fromJson, toBinary, type DescField, type DescMessage, type FileRegistry, type JsonValue } from "@bufbuild/protobuf";
import type { Match } from "./match.js";
import type { TranscoderSettings } from "./settings.js";

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

interface Binding {
  /** Proto field names from the request message down to the leaf. */
  path: string[];
  leaf: DescField;
  value: string;
  fromQuery: boolean;
}

/**
 * Builds the gRPC request bytes for a matched route: the body (JSON through the
 * proto3 JSON mapping, unknown fields ignored as Envoy does; or raw into an
 * HttpBody field with its content type), then path and query bindings woven in.
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
  for (const [variable, value] of match.bindings) bindings.push({ ...resolve(input, variable, true)!, value, fromQuery: false });
  for (const [name, value] of parseQuery(query, settings.queryParamUnescapePlus)) {
    const resolved = resolve(input, name, false);
    if (!resolved) {
      if (settings.requestValidationOptions.rejectUnknownQueryParameters && !settings.ignoreUnknownQueryParameters) {
        throw new GatewayError(400, `unknown query parameter ${JSON.stringify(name.slice(0, 64))}`);
      }
      continue;
    }
    bindings.push({ ...resolved, value, fromQuery: true });
  }

  let json: Record<string, JsonValue> = {};
  if (route.body && !route.httpBodyRequestField && body.length > 0) {
    if (!/^application\/([a-z.+-]+\+)?json\s*(;|$)/i.test(contentType)) throw new GatewayError(415, "the request body must be application/json");
    const parsed = parseJson(body);
    if (route.body === "*") {
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new GatewayError(400, "the JSON body must be an object");
      json = parsed as Record<string, JsonValue>;
    } else {
      json = { [route.body]: parsed };
    }
  }
  for (const b of bindings) weave(json, b, settings.requestValidationOptions.rejectBindingBodyFieldCollisions);

  let message;
  try {
    // Unknown fields are dropped (Envoy's ignore_unknown_fields), but an unknown
    // enum value stays an error: silently turning "HS256" into the default
    // algorithm would be worse than refusing it.
    message = fromJson(input, dropUnknownFields(input, json) as JsonValue, { registry });
  } catch (err) {
    throw new GatewayError(400, (err as Error).message.replace(/^cannot decode message [\w.]+ from JSON: /, "invalid value: "));
  }
  if (route.httpBodyRequestField) {
    const httpBody = registry.getMessage("google.api.HttpBody")!;
    (message as Record<string, unknown>)[route.httpBodyRequestField.localName] = create(httpBody, { contentType, data: body });
  }
  return toBinary(input, message);
}

/** Message types with a special JSON form; their contents are left to the parser. */
const SPECIAL_JSON = /^google\.protobuf\.(Any|Struct|Value|ListValue|Timestamp|Duration|FieldMask|Empty|\w+Value)$/;

/** Removes object keys that name no field, recursively through message-typed fields. */
function dropUnknownFields(message: DescMessage, json: JsonValue): JsonValue {
  if (typeof json !== "object" || json === null || Array.isArray(json) || SPECIAL_JSON.test(message.typeName)) return json;
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = message.fields.find((f) => f.name === key || f.jsonName === key);
    if (!field) continue;
    if (field.fieldKind === "message") out[key] = dropUnknownFields(field.message, value);
    else if (field.fieldKind === "list" && field.listKind === "message" && Array.isArray(value)) out[key] = value.map((v) => dropUnknownFields(field.message, v));
    else if (field.fieldKind === "map" && field.mapKind === "message" && typeof value === "object" && value !== null && !Array.isArray(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, dropUnknownFields(field.message, v)]));
    } else out[key] = value;
  }
  return out;
}

function parseJson(body: Buffer): JsonValue {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
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
 * Splits a query string like Envoy: `&`-separated, a parameter without `=` is
 * ignored, values fully percent-decoded, `+` a space only when configured.
 */
export function parseQuery(query: string, unescapePlus: boolean): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    if (pair === "" || eq < 0) continue;
    const dec = (s: string) => {
      try {
        return decodeURIComponent(unescapePlus ? s.replace(/\+/g, " ") : s);
      } catch {
        throw new GatewayError(400, "broken percent-encoding in the query string");
      }
    };
    out.push([dec(pair.slice(0, eq)), dec(pair.slice(eq + 1))]);
  }
  return out;
}

/** Resolves a dotted field path by proto or JSON names to a leaf a binding may set. */
function resolve(message: DescMessage, dotted: string, fromPath: boolean): Omit<Binding, "value" | "fromQuery"> | undefined {
  const path: string[] = [];
  let current: DescMessage | undefined = message;
  const parts = dotted.split(".");
  for (let i = 0; i < parts.length; i++) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === parts[i] || f.jsonName === parts[i]);
    if (!field) return undefined;
    path.push(field.name);
    const last = i === parts.length - 1;
    if (last) {
      const ok =
        field.fieldKind === "scalar" ||
        field.fieldKind === "enum" ||
        (field.fieldKind === "list" && field.listKind !== "message") ||
        (field.fieldKind === "message" && (STRING_WKTS.has(field.message.typeName) || WRAPPERS.test(field.message.typeName)));
      if (!ok || (fromPath && field.fieldKind === "list")) return undefined;
      return { path, leaf: field };
    }
    if (field.fieldKind !== "message") return undefined;
    current = field.message;
  }
  return undefined;
}

/** Sets a binding into the JSON request; the body wins, or a differing body value is refused. */
function weave(json: Record<string, JsonValue>, b: Binding, rejectCollisions: boolean): void {
  let node = json;
  for (const name of b.path.slice(0, -1)) {
    const existing = node[name] ?? node[camel(name)];
    if (existing === undefined || existing === null) node = node[name] = {};
    else if (typeof existing === "object" && !Array.isArray(existing)) node = existing as Record<string, JsonValue>;
    else throw new GatewayError(400, `field ${b.path.join(".")} conflicts with the body`);
  }
  const name = b.path[b.path.length - 1]!;
  const value = jsonValue(b.leaf, b.value);
  if (b.leaf.fieldKind === "list") {
    const list = node[name] ?? node[camel(name)];
    if (Array.isArray(list)) list.push(value);
    else node[name] = [value];
    return;
  }
  const key = name in node ? name : camel(name) in node ? camel(name) : undefined;
  if (key !== undefined && node[key] !== null) {
    if (rejectCollisions && String(node[key]) !== String(value)) {
      throw new GatewayError(400, `${b.fromQuery ? "query parameter" : "path"} ${b.path.join(".")} differs from the body`);
    }
    return;
  }
  node[name] = value;
}

/** A binding's string as the JSON value the proto3 JSON mapping expects for the field. */
function jsonValue(field: DescField, value: string): JsonValue {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "scalar") {
    const scalar = field.fieldKind === "list" || field.fieldKind === "scalar" ? field.scalar : undefined;
    if (scalar === 8 /* BOOL */) {
      if (value !== "true" && value !== "false") throw new GatewayError(400, `${field.name} must be true or false`);
      return value === "true";
    }
    return value; // proto3 JSON parsers accept numbers as strings
  }
  if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.FieldMask") {
    // Accept snake_case paths too (the JSON form is lowerCamel).
    return value.split(",").map((p) => p.trim().split(".").map(camel).join(".")).join(",");
  }
  return value;
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
