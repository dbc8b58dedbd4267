import { SERVICE_NAMES } from "../descriptor.js";
import type { UrlUnescapeSpec } from "./match.js";

/**
 * The transcoder settings, mirrored 1:1 from Envoy's grpc_json_transcoder
 * config (envoy/envoy.yaml; test/envoy_config.test.ts keeps the two equal).
 * The embedded gateway reads them from here; names follow Envoy's fields.
 */
export interface TranscoderSettings {
  readonly services: readonly string[];
  readonly protoDescriptor: string;
  readonly printOptions: Readonly<{ addWhitespace: boolean; alwaysPrintPrimitiveFields: boolean; alwaysPrintEnumsAsInts: boolean; preserveProtoFieldNames: boolean; streamNewlineDelimited: boolean }>;
  readonly convertGrpcStatus: boolean;
  readonly autoMapping: boolean;
  readonly matchIncomingRequestRoute: boolean;
  readonly ignoreUnknownQueryParameters: boolean;
  readonly queryParamUnescapePlus: boolean;
  readonly urlUnescapeSpec: UrlUnescapeSpec;
  readonly matchUnregisteredCustomVerb: boolean;
  readonly caseInsensitiveEnumParsing: boolean;
  readonly requestValidationOptions: Readonly<{ rejectUnknownMethod: boolean; rejectUnknownQueryParameters: boolean; rejectBindingBodyFieldCollisions: boolean }>;
  readonly maxRequestBodySize: number;
  readonly maxResponseBodySize: number;
}

export const transcoderSettings: TranscoderSettings = Object.freeze({
  /** Fully qualified services to transcode (Envoy `services`). */
  services: SERVICE_NAMES,
  /** Where Envoy's container mounts gen/descriptor.binpb (`proto_descriptor`). */
  protoDescriptor: "/etc/envoy/descriptor.binpb",
  printOptions: Object.freeze({
    addWhitespace: false,
    alwaysPrintPrimitiveFields: true,
    alwaysPrintEnumsAsInts: false,
    preserveProtoFieldNames: true,
    /** Server-streaming responses (WatchRevocations) as one JSON object per line, not one JSON array. */
    streamNewlineDelimited: true,
  }),
  /** gRPC errors become a google.rpc.Status JSON body. */
  convertGrpcStatus: true,
  /** No POST /<pkg.Service>/<Method> (body `*`) for RPCs without a google.api.http option (every RPC here has one). */
  autoMapping: false,
  /** Envoy routes the transcoded gRPC path (/authz.v1.X/Y); meaningless for the embedded gateway. */
  matchIncomingRequestRoute: false,
  /** With rejectUnknownQueryParameters: an unknown query parameter is a 400, not ignored. */
  ignoreUnknownQueryParameters: false,
  /** `+` in query values means a space (as HTML forms and URLSearchParams write it). */
  queryParamUnescapePlus: true,
  /** Multi-segment path variables keep RFC 6570 reserved characters (`%2F`...) encoded; single-segment ones are always fully decoded. */
  urlUnescapeSpec: "ALL_CHARACTERS_EXCEPT_RESERVED",
  /** `:suffix` is a custom verb only when some route registers it (`:rotateSecret`, `:rotate`...). */
  matchUnregisteredCustomVerb: false,
  /**
   * An enum name that matches no value is tried again upper-cased, `-` as `_`
   * (protobuf's JsonParseOptions): Auth0-style "RS256", "access_token_authz",
   * "client_secret_post" find the proto's alias values (allow_alias). Body and
   * path/query bindings alike; responses still print the canonical names.
   */
  caseInsensitiveEnumParsing: true,
  requestValidationOptions: Object.freeze({
    /** Unmapped path -> 404 (instead of passing it through). */
    rejectUnknownMethod: true,
    /** Unknown query parameter -> 400. */
    rejectUnknownQueryParameters: true,
    /** A path/query binding and the body disagreeing on a field -> 400. */
    rejectBindingBodyFieldCollisions: true,
  }),
  /** Larger request bodies -> 413. */
  maxRequestBodySize: 65_536,
  /** Larger response bodies -> 500. */
  maxResponseBodySize: 1_048_576,
});

/** The upstream call's deadline, as the route `timeout: 15s` in envoy/envoy.yaml (-> 504). */
export const UPSTREAM_TIMEOUT_MS = 15_000;


/*
 * Where the embedded gateway deliberately differs from Envoy (everything else
 * follows grpc_json_transcoder; test/gateway_*.test.ts pins the behaviour):
 * - Local replies (404 no route, 400 refused input, 413, 415) are
 *   google.rpc.Status JSON; Envoy sends its status message as text/plain.
 * - A JSON route given a body whose content type is declared and not JSON
 *   answers 415; Envoy parses any body as JSON (so: 400). No content type is
 *   read as JSON, as Envoy does.
 * - Broken percent-encoding (`%ZZ`) or escapes that do not decode to UTF-8,
 *   in the path or the query, are a 400; Envoy passes a broken escape through
 *   literally.
 * - A query parameter that contradicts a path variable is a 400; Envoy lets
 *   the query value win.
 * - A JSON request with fields that do not decode (a wrong type, an unknown
 *   enum name) is a 400 google.rpc.BadRequest naming every such field by its
 *   proto path; when the method takes AIP-163 validate_only, the service
 *   checks the other fields (writing nothing) and its violations come in the
 *   same answer (gateway/undecodable.ts). Envoy answers the first decode
 *   error alone, as a text/plain 400, without calling the service.
 * - Plain HTTP/1.1 only: no h2c and no native gRPC pass-through on the HTTP
 *   port (gRPC clients use the gRPC port).
 * - Client-streaming RPCs are not transcoded (there are none); start-up fails
 *   if one has an HTTP rule. Server streaming is (newline-delimited JSON).
 */
