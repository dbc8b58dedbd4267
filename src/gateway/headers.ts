import type { IncomingMessage } from "node:http";
import { GatewayError } from "./request.js";

/**
 * Request headers that never become metadata: hop-by-hop (RFC 9110 §7.6.1),
 * the ones the transcoding replaces (host is :authority, content-type and
 * content-length describe the JSON, not the gRPC message), and `expect`.
 */
const NOT_METADATA = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "content-type", "expect"]);
/** Set by the gateway itself (as Envoy sets them, replacing whatever the client sent). */
const ENVOY_ADDED = new Set(["x-envoy-original-path", "x-envoy-original-method"]);
/** What gRPC accepts as a metadata key and a text value (grpc-js Metadata refuses anything else). */
const LEGAL_KEY = /^[0-9a-z_.-]+$/;
const LEGAL_VALUE = /^[ -~]*$/;

/**
 * Every request header as metadata (authorization included), minus
 * NOT_METADATA, `grpc-*` (the transport's own) and `-bin` names (gRPC would
 * read them as base64 binary); plus Envoy's x-envoy-original-path (with the
 * query) and x-envoy-original-method. A header gRPC cannot carry is a 400,
 * for every upstream alike.
 */
export function requestMetadata(req: IncomingMessage, url: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_METADATA.has(name) || name.startsWith("grpc-") || name.endsWith("-bin") || ENVOY_ADDED.has(name)) continue;
    const value = raw[i + 1]!;
    if (!LEGAL_KEY.test(name) || !LEGAL_VALUE.test(value)) throw new GatewayError(400, `header ${name.slice(0, 64)} cannot be carried as gRPC metadata`);
    out.push([name, value]);
  }
  out.push(["x-envoy-original-path", url], ["x-envoy-original-method", req.method ?? "GET"]);
  return out;
}
