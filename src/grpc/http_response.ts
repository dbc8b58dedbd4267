import * as grpc from "@grpc/grpc-js";
import type { HttpBody } from "../../gen/google/api/httpbody.js";
import { errorBody, InvalidClient, InvalidToken, OAuthError } from "../oauth/errors.js";

/**
 * Shapes an HTTP response for the HttpBody-wrapped OAuth RPCs: the status and
 * headers go out as initial metadata (`x-http-code` for non-200, turned into
 * the HTTP status by the embedded gateway or Envoy's Lua filter), the body is
 * the exact JSON bytes.
 */
export function httpResponse(
  call: grpc.ServerUnaryCall<unknown, unknown>,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): { httpBody: HttpBody } {
  const md = new grpc.Metadata();
  if (status !== 200) md.set("x-http-code", String(status));
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  call.sendMetadata(md);
  // Buffers are sent as they are (precomputed documents such as the JWKS).
  const data = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return { httpBody: { contentType: "application/json", data, extensions: [] } };
}

/** RFC 6749 §5.1: token responses (and errors) must not be cached. */
export const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" } as const;

/** RFC 6749 §5.2 error response, with the challenge a 401 needs (RFC 9110 §15.5.2). */
export function oauthErrorResponse(call: grpc.ServerUnaryCall<unknown, unknown>, err: OAuthError, extraHeaders: Record<string, string> = NO_STORE) {
  const headers: Record<string, string> = { ...extraHeaders };
  if (err instanceof InvalidToken) headers["www-authenticate"] = `Bearer error="invalid_token"`;
  else if (err instanceof InvalidClient || err.status === 401) headers["www-authenticate"] = `Basic realm="authz"`;
  return httpResponse(call, err.status, errorBody(err), headers);
}

/** The request's Authorization header, forwarded as metadata by the gateway or Envoy. */
export function authorizationOf(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined {
  const value = call.metadata.get("authorization")[0];
  return typeof value === "string" ? value : undefined;
}
