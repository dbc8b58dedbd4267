import { create, fromBinary, fromJson, ScalarType, toBinary, type DescField, type DescMessage, type FileRegistry, type JsonObject, type JsonValue, type Message } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { GrpcCode, type FieldViolation } from "../errors.js";
import type { UpstreamReply } from "./upstream.js";

/**
 * A JSON request with fields that do not decode (a wrong type, a number out of
 * range, an unknown enum name). Each becomes a google.rpc.BadRequest field
 * violation named by its proto field path (`api_server.signing_alg`), so a
 * caller learns about every bad field at once, as the service's own
 * validation reports them (the OneLogin answer shape).
 *
 * When the method takes AIP-163 `validate_only`, `validateOnly` is the request
 * without the undecodable fields and with validate_only set: the gateway asks
 * the service to check the rest (nothing is written, by that field's
 * contract) and merges the answer. Envoy's transcoder cannot do this: it
 * answers a decode error with its own 400 and a text message (settings.ts).
 */
export class UndecodableFields extends Error {
  override name = "UndecodableFields";
  constructor(
    message: string,
    readonly violations: readonly Undecodable[],
    readonly validateOnly: Uint8Array | undefined,
  ) {
    super(message);
  }
}

/** One field that did not decode: its violation, and the JSON path dropped for it (a violation of the service at or under that path is about what was dropped, not what was sent). */
export interface Undecodable extends FieldViolation {
  dropped: string;
}

/** AIP-163's field: a top-level `bool validate_only`. */
const VALIDATE_ONLY = "validate_only";
/** Well-known types with a JSON form of their own (a string, any JSON): decoded whole, never walked into. */
const OWN_JSON_FORM = /^google\.protobuf\.(Any|Struct|Value|ListValue|Timestamp|Duration|FieldMask|Empty|\w+Value)$/;

export function hasOwnJsonForm(message: DescMessage): boolean {
  return OWN_JSON_FORM.test(message.typeName);
}

/**
 * Explains why `json` (already read as Envoy reads it: unknown fields
 * dropped, enum names resolved) does not decode into `input`: field by field.
 * Undefined when no single field is to blame (e.g. two members of a oneof
 * set): the caller answers with the decoder's message alone.
 */
export function undecodable(registry: FileRegistry, input: DescMessage, json: JsonObject, caseInsensitiveEnums: boolean): UndecodableFields | undefined {
  const found: Undecodable[] = [];
  const rest = prune({ registry, caseInsensitiveEnums, found }, input, json, "");
  if (found.length === 0) return undefined;
  let decoded: Message | undefined;
  try {
    decoded = fromJson(input, rest, { registry });
  } catch {
    decoded = undefined; // fields that fail only together: the violations found are still the answer
  }
  return new UndecodableFields(violationsMessage(found), found, decoded && validateOnlyRequest(input, decoded));
}

/** The request with validate_only set, when the method has that field. */
function validateOnlyRequest(input: DescMessage, message: Message): Uint8Array | undefined {
  const field = input.fields.find((f) => f.name === VALIDATE_ONLY);
  if (field?.fieldKind !== "scalar" || field.scalar !== ScalarType.BOOL) return undefined;
  (message as unknown as Record<string, unknown>)[field.localName] = true;
  return toBinary(input, message);
}

/**
 * `json` without the fields that do not decode, each recorded in `found`.
 * Message-typed fields are walked into, so the violation names the leaf;
 * a bad element of a repeated message becomes `{}` (later indexes keep their
 * meaning); a repeated scalar or a map with a bad entry is dropped whole,
 * each bad entry named.
 */
/** What a prune needs throughout: the registry, how enum names are read (for the violation text), the violations found so far. */
interface Pruning {
  registry: FileRegistry;
  caseInsensitiveEnums: boolean;
  found: Undecodable[];
}

function prune(p: Pruning, message: DescMessage, json: JsonObject, prefix: string): JsonObject {
  const kept: JsonObject = {};
  for (const [key, value] of Object.entries(json)) {
    const field = message.fields.find((f) => f.name === key || f.jsonName === key);
    if (!field) continue;
    const path = prefix + field.name;
    const walked = walk(p, field, value, path);
    if (walked === DROPPED) continue;
    if (walked !== WHOLE) {
      kept[key] = walked;
      continue;
    }
    const problem = decodeError(p.registry, message, key, value);
    if (problem === undefined) kept[key] = value;
    else p.found.push(...entryViolations(p, message, field, key, value, path, problem));
  }
  return kept;
}

/** walk(): the field is decided as a whole / was refused and dropped. */
const WHOLE = Symbol("whole");
const DROPPED = Symbol("dropped");

/** A plain message (not a well-known type with its own JSON form), alone or repeated, is walked into so that a violation names the leaf. */
function walk(p: Pruning, field: DescField, value: JsonValue, path: string): JsonValue | typeof WHOLE | typeof DROPPED {
  if (field.fieldKind === "message" && !hasOwnJsonForm(field.message) && value !== null) {
    if (isObject(value)) return prune(p, field.message, value, `${path}.`);
    p.found.push({ field: path, description: "must be a JSON object", dropped: path });
    return DROPPED;
  }
  if (field.fieldKind === "list" && field.listKind === "message" && !hasOwnJsonForm(field.message) && Array.isArray(value)) {
    return value.map((item, i) => {
      const at = `${path}[${i}]`;
      if (isObject(item)) return prune(p, field.message, item, `${at}.`);
      p.found.push({ field: at, description: "must be a JSON object", dropped: at });
      return {};
    });
  }
  return WHOLE;
}

/** The violations of a field that failed as a whole: each bad item of a list or map by its index or key, else the field. */
function entryViolations(p: Pruning, message: DescMessage, field: DescField, key: string, value: JsonValue, path: string, problem: string): Undecodable[] {
  // Each entry alone, as the field it is an entry of: [item] of a list, {k: item} of a map.
  const entries: Array<[string, JsonValue, JsonValue]> = [];
  if (field.fieldKind === "list" && Array.isArray(value)) value.forEach((item, i) => entries.push([`${path}[${i}]`, item, [item]]));
  else if (field.fieldKind === "map" && isObject(value)) for (const [k, item] of Object.entries(value)) entries.push([`${path}[${JSON.stringify(k)}]`, item, { [k]: item }]);
  const out: Undecodable[] = [];
  for (const [at, item, alone] of entries) {
    const error = decodeError(p.registry, message, key, alone);
    if (error !== undefined) out.push({ field: at, description: describe(p, field, item, error), dropped: path });
  }
  return out.length > 0 ? out : [{ field: path, description: describe(p, field, value, problem), dropped: path }];
}

/** Why `{key: value}` alone does not decode into `message`, or undefined when it does. */
function decodeError(registry: FileRegistry, message: DescMessage, key: string, value: JsonValue): string | undefined {
  try {
    fromJson(message, { [key]: value }, { registry });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A violation's text: an enum lists its names; anything else says what was expected, without the decoder's type prefix. */
function describe(p: Pruning, field: DescField, value: JsonValue, problem: string): string {
  if (field.enum && typeof value === "string") {
    return `${JSON.stringify(value.slice(0, 64))} is not one of ${field.enum.values.map((v) => v.name).join(", ")}${p.caseInsensitiveEnums ? " (case-insensitive)" : ""}`;
  }
  const text = problem.replace(/^cannot decode (?:message|field|enum) [\w.]+ from JSON:? /, "").replace(/^(list item #\d+|map entry "[^"]*"): /, "");
  // A well-known type's decoder names only what it got ("string", "5", "Array(1)"): say what is expected.
  const expected = field.message && !text.includes(" ") ? EXPECTED_JSON[field.message.typeName] : undefined;
  return expected ? `${expected}, got ${text}` : text;
}

/** What the proto3 JSON mapping takes for the well-known types with a JSON form of their own. */
const EXPECTED_JSON: Record<string, string> = {
  "google.protobuf.Struct": "must be a JSON object",
  "google.protobuf.ListValue": "must be a JSON array",
  "google.protobuf.Timestamp": "must be an RFC 3339 timestamp string",
  "google.protobuf.Duration": 'must be a duration string such as "3.5s"',
  "google.protobuf.FieldMask": "must be a string of comma-separated field paths",
};

function isObject(value: JsonValue): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function violationsMessage(violations: readonly FieldViolation[]): string {
  return violations.map((v) => `${v.field}: ${v.description}`).join("; ");
}

/**
 * What the caller gets: the decode violations, together with the service's
 * own violations of the other fields when its validate_only check refused
 * them (INVALID_ARGUMENT). Any other answer (it accepted the rest, or refused
 * the call for another reason, e.g. no token) leaves the decode violations as
 * the whole answer: the request is malformed either way.
 */
export function withDecodeViolations(err: UndecodableFields, registry: FileRegistry, reply?: UpstreamReply): UpstreamReply {
  const Status = registry.getMessage("google.rpc.Status")!;
  const BadRequest = registry.getMessage("google.rpc.BadRequest")!;
  const fromService = reply?.code === GrpcCode.INVALID_ARGUMENT && reply.statusDetails ? fromBinary(Status, reply.statusDetails) : undefined;
  const details = ((fromService as { details?: Any[] } | undefined)?.details ?? []).slice();
  const index = details.findIndex((d) => d.typeUrl.endsWith("/google.rpc.BadRequest"));
  const theirs = index < 0 ? [] : (((anyUnpack(details[index]!, BadRequest) as { fieldViolations?: FieldViolation[] } | undefined)?.fieldViolations ?? []) as FieldViolation[]);
  const others = theirs.filter((v) => !err.violations.some((u) => v.field === u.dropped || v.field.startsWith(`${u.dropped}.`) || v.field.startsWith(`${u.dropped}[`)));
  const violations = [...err.violations.map(({ field, description }) => ({ field, description })), ...others.map(({ field, description }) => ({ field, description }))];
  const packed = anyPack(BadRequest, create(BadRequest, { fieldViolations: violations } as never));
  if (index < 0) details.unshift(packed);
  else details[index] = packed;
  const message = violationsMessage(violations);
  const status = create(Status, { code: GrpcCode.INVALID_ARGUMENT, message, details } as never);
  return { code: GrpcCode.INVALID_ARGUMENT, message, statusDetails: toBinary(Status, status), headers: {} };
}
