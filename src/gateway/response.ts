import * as grpc from "@grpc/grpc-js";
import { fromBinary, toJsonString, type DescMessage, type FileRegistry, type JsonWriteStringOptions } from "@bufbuild/protobuf";
import type { Route } from "./routes.js";
import type { TranscoderSettings } from "./settings.js";

/** What the gateway writes back for one request. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[]>;
  contentType: string;
  body: Buffer;
  /** Close the connection afterwards (the request body was not read to its end). */
  close?: boolean;
}

/** gRPC status -> HTTP status, as Envoy's grpcToHttpStatus (from the Google API design guide). */
const HTTP_STATUS: Record<number, number> = {
  [grpc.status.OK]: 200,
  [grpc.status.CANCELLED]: 499,
  [grpc.status.UNKNOWN]: 500,
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.FAILED_PRECONDITION]: 400,
  [grpc.status.ABORTED]: 409,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.UNIMPLEMENTED]: 501,
  [grpc.status.INTERNAL]: 500,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DATA_LOSS]: 500,
  [grpc.status.UNAUTHENTICATED]: 401,
};

export function httpStatusOf(code: number): number {
  return HTTP_STATUS[code] ?? 500;
}

/** Metadata that never becomes a response header: the transport's own, framing the gateway sets itself, and x-http-code (consumed). */
const NOT_HEADERS = new Set(["content-type", "content-length", "date", "x-http-code", "connection", "keep-alive", "transfer-encoding", "upgrade", "trailer", "te", "proxy-connection"]);

export function isResponseHeader(name: string): boolean {
  return !NOT_HEADERS.has(name) && !name.startsWith("grpc-") && !name.endsWith("-bin");
}

/** Metadata -> response headers (every value of a repeated key). */
function headersOf(md: grpc.Metadata | undefined): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (!md) return headers;
  for (const [name, values] of Object.entries(md.toJSON())) {
    if (!isResponseHeader(name) || values.length === 0) continue;
    headers[name] = values.length === 1 ? String(values[0]) : values.map(String);
  }
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

/**
 * An OK response: initial metadata become headers; `x-http-code` (set by the
 * service, e.g. 400/401 for OAuth errors) becomes the status, as Envoy's Lua
 * filter does; an HttpBody response goes out raw with its content type, any
 * other as proto3 JSON with the print options. A gRPC message larger than
 * max_response_body_size is a 500, as in Envoy.
 */
export function okResponse(route: Route, out: Buffer, initial: grpc.Metadata | undefined, registry: FileRegistry, settings: TranscoderSettings): HttpResponse {
  if (out.length > settings.maxResponseBodySize) return { status: 500, headers: {}, contentType: "application/json", body: Buffer.from(JSON.stringify({ code: 13, message: "response body too large", details: [] })) };
  const headers = headersOf(initial);
  let status = 200;
  const code = initial?.get("x-http-code")[0];
  if (code !== undefined) {
    status = Number(code);
    if (!Number.isInteger(status) || status < 200 || status > 599) status = 500;
  }
  const message = fromBinary(route.method.output, out);
  if (route.httpBodyResponseField) {
    const httpBody = (message as Record<string, unknown>)[route.httpBodyResponseField.localName] as { contentType: string; data: Uint8Array } | undefined;
    // An empty HttpBody is an empty body; Envoy then keeps application/json.
    const data = httpBody?.data ?? new Uint8Array();
    return { status, headers, contentType: httpBody?.contentType || "application/json", body: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  }
  return { status, headers, contentType: "application/json", body: Buffer.from(toJsonString(route.method.output, message, print(settings, registry))) };
}

/**
 * A gRPC error: the mapped status and (convert_grpc_status) a google.rpc.Status
 * JSON body, from `grpc-status-details-bin` when present, so typed details
 * such as BadRequest carry their `@type`; else code + message. Headers come
 * from initial metadata; only a trailers-only error (grpc-js sends one when a
 * handler fails before sending metadata) has its trailers, e.g.
 * www-authenticate, become headers, because Envoy's response header map is
 * that single HEADERS frame.
 */
export function errorResponse(err: grpc.ServiceError, initial: grpc.Metadata | undefined, registry: FileRegistry, settings: TranscoderSettings): HttpResponse {
  const headers = headersOf(initial ?? err.metadata);
  const status = httpStatusOf(err.code);
  if (!settings.convertGrpcStatus) {
    return { status, headers: { ...headers, "grpc-status": String(err.code), "grpc-message": encodeURIComponent(err.details ?? "") }, contentType: "application/json", body: Buffer.alloc(0) };
  }
  return { status, headers, contentType: "application/json", body: Buffer.from(statusBody(err, registry, print(settings, registry))) };
}

export function statusBody(err: grpc.ServiceError, registry: FileRegistry, options: Partial<JsonWriteStringOptions>): string {
  const status = registry.getMessage("google.rpc.Status") as DescMessage;
  const raw = err.metadata?.get("grpc-status-details-bin")[0];
  if (raw instanceof Buffer) {
    try {
      return toJsonString(status, fromBinary(status, raw), options);
    } catch {
      // Undecodable details or a detail type missing from the descriptor: the plain form below.
    }
  }
  return JSON.stringify({ code: err.code, message: err.details ?? "", details: [] });
}
