import { fromBinary, toJsonString, type DescMessage, type FileRegistry, type JsonWriteStringOptions } from "@bufbuild/protobuf";
import { ERROR_TABLE, GrpcCode, type ErrorKind } from "../errors.js";
import type { Route } from "./routes.js";
import type { TranscoderSettings } from "./settings.js";
import type { UpstreamReply } from "./upstream.js";

/** What the gateway writes back for one request. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[]>;
  contentType: string;
  body: Buffer;
  /** Close the connection afterwards (the request body was not read to its end). */
  close?: boolean;
}

/** gRPC status -> HTTP status, as Envoy's grpcToHttpStatus (the error table's http column). */
const HTTP_STATUS: Record<number, number> = {
  [GrpcCode.OK]: 200,
  [GrpcCode.UNKNOWN]: 500,
  [GrpcCode.UNIMPLEMENTED]: 501,
  [GrpcCode.DATA_LOSS]: 500,
  ...Object.fromEntries(Object.values(ERROR_TABLE).map((row) => [row.grpc, row.http])),
};

export function httpStatusOf(code: number): number {
  return HTTP_STATUS[code] ?? 500;
}

/** gRPC code of an error kind, for the gateway's own replies. */
export function grpcCodeOf(kind: ErrorKind): number {
  return ERROR_TABLE[kind].grpc;
}

/** Metadata that never becomes a response header: the transport's own, framing the gateway sets itself, and x-http-code (consumed). */
const NOT_HEADERS = new Set(["content-type", "content-length", "date", "x-http-code", "connection", "keep-alive", "transfer-encoding", "upgrade", "trailer", "te", "proxy-connection"]);

export function isResponseHeader(name: string): boolean {
  return !NOT_HEADERS.has(name) && !name.startsWith("grpc-") && !name.endsWith("-bin");
}

function headersOf(from: Record<string, string | string[]>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const name in from) if (isResponseHeader(name)) headers[name] = from[name]!;
  return headers;
}

/** Envoy print_options -> protobuf-es toJson options (same names as the table in the transcoding reference). */
export function printOptions(settings: TranscoderSettings, registry: FileRegistry): Partial<JsonWriteStringOptions> {
  return {
    useProtoFieldName: settings.printOptions.preserveProtoFieldNames,
    alwaysEmitImplicit: settings.printOptions.alwaysPrintPrimitiveFields,
    enumAsInteger: settings.printOptions.alwaysPrintEnumsAsInts,
    prettySpaces: settings.printOptions.addWhitespace ? 2 : 0,
    registry,
  };
}

const printCache = new WeakMap<TranscoderSettings, Partial<JsonWriteStringOptions>>();
function print(settings: TranscoderSettings, registry: FileRegistry) {
  let options = printCache.get(settings);
  if (!options || options.registry !== registry) printCache.set(settings, (options = printOptions(settings, registry)));
  return options;
}

const TOO_LARGE = Buffer.from(JSON.stringify({ code: GrpcCode.INTERNAL, message: "response body too large", details: [] }));

/**
 * An upstream reply as the HTTP response, as Envoy's transcoder and Lua
 * filter make it. OK: headers from initial metadata; `x-http-code` (set by
 * the service, e.g. 400/401 for OAuth errors) becomes the status; an HttpBody
 * response goes out raw with its content type, any other as proto3 JSON with
 * the print options; a message larger than max_response_body_size is a 500.
 * Error: the mapped status and (convert_grpc_status) a google.rpc.Status JSON
 * body from `grpc-status-details-bin` when present, so typed details such as
 * BadRequest carry their `@type`; else code + message. Only a trailers-only
 * error (grpc-js sends one when a handler fails before sending metadata) has
 * its trailers, e.g. www-authenticate, become headers, because Envoy's
 * response header map is that single HEADERS frame.
 */
export function toHttpResponse(route: Route, reply: UpstreamReply, registry: FileRegistry, settings: TranscoderSettings): HttpResponse {
  const headers = headersOf(reply.headers);
  if (reply.code !== GrpcCode.OK) {
    const status = httpStatusOf(reply.code);
    if (!settings.convertGrpcStatus) {
      return { status, headers: { ...headers, "grpc-status": String(reply.code), "grpc-message": encodeURIComponent(reply.message) }, contentType: "application/json", body: Buffer.alloc(0) };
    }
    return { status, headers, contentType: "application/json", body: Buffer.from(statusBody(reply, registry, print(settings, registry))) };
  }
  let status = 200;
  const code = reply.headers["x-http-code"];
  if (code !== undefined) {
    status = Number(Array.isArray(code) ? code[0] : code);
    if (!Number.isInteger(status) || status < 200 || status > 599) status = 500;
  }
  if (reply.httpBody) {
    const { data, contentType } = reply.httpBody;
    if (data.length > settings.maxResponseBodySize) return { status: 500, headers: {}, contentType: "application/json", body: TOO_LARGE };
    return { status, headers, contentType: contentType || "application/json", body: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  }
  const out = reply.body ?? new Uint8Array();
  if (out.length > settings.maxResponseBodySize) return { status: 500, headers: {}, contentType: "application/json", body: TOO_LARGE };
  const message = fromBinary(route.method.output, out);
  if (route.httpBodyResponseField) {
    const httpBody = (message as Record<string, unknown>)[route.httpBodyResponseField.localName] as { contentType: string; data: Uint8Array } | undefined;
    // An empty HttpBody is an empty body; Envoy then keeps application/json.
    const data = httpBody?.data ?? new Uint8Array();
    return { status, headers, contentType: httpBody?.contentType || "application/json", body: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  }
  return { status, headers, contentType: "application/json", body: Buffer.from(toJsonString(route.method.output, message, print(settings, registry))) };
}

export function statusBody(reply: Pick<UpstreamReply, "code" | "message" | "statusDetails">, registry: FileRegistry, options: Partial<JsonWriteStringOptions>): string {
  const status = registry.getMessage("google.rpc.Status") as DescMessage;
  if (reply.statusDetails) {
    try {
      return toJsonString(status, fromBinary(status, reply.statusDetails), options);
    } catch {
      // Undecodable details or a detail type missing from the descriptor: the plain form below.
    }
  }
  return JSON.stringify({ code: reply.code, message: reply.message, details: [] });
}
