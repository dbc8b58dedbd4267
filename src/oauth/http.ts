import type { Context } from "../tracing.js";
import type { ClientCertificate } from "../pipeline/context.js";
import { AuthzError, ERROR_TABLE } from "../errors.js";
import { errorBody, OAuthError } from "./errors.js";

/** An OAuth endpoint's HTTP request, as the HttpBody RPCs carry it (raw body + content type). */
export interface OAuthHttpRequest {
  contentType: string;
  body: Uint8Array;
  /** The Authorization header, if any. */
  authorization: string | undefined;
  /** The caller's address (CallContext.peer), for throttling only. */
  source?: string;
  /** The call's trace context (CallContext.traceContext): the parent of the step spans; none: not traced. */
  trace?: Context;
  /** The caller's TLS client certificate (CallContext.clientCertificate). */
  certificate?: ClientCertificate;
  /** The `DPoP` request header (RFC 9449 §4.1). */
  dpop?: string;
}

/** An OAuth endpoint's answer: exact status, headers and JSON bytes (RFC 6749 §5.1, `expires_in` a number). */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** RFC 6749 §5.1: token responses (and errors) must not be cached. */
export const NO_STORE: Readonly<Record<string, string>> = Object.freeze({ "cache-control": "no-store", pragma: "no-cache" });

const EMPTY = Buffer.alloc(0);

export function jsonResult(status: number, body: unknown, headers: Record<string, string> = NO_STORE): HttpResult {
  return { status, headers, body: body === undefined ? EMPTY : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)) };
}

/** The RFC error code `errorResult` answers a failure with (a metric label); `cancelled` for a call nobody hears. */
export function errorCodeOf(err: unknown): string {
  if (err instanceof OAuthError) return err.error;
  const kind = err instanceof AuthzError ? err.kind : "internal";
  return kind === "cancelled" ? "cancelled" : (ERROR_TABLE[kind].oauth ?? "server_error");
}

/**
 * Any failure of an OAuth endpoint as its RFC-shaped answer: protocol errors
 * with their RFC 6749 §5.2 body, status and challenge; faults by the error
 * table — the store down is 503 `temporarily_unavailable` with Retry-After,
 * anything else 500 `server_error` — never `invalid_client`. Returns
 * undefined for what is not an answer to the caller (a cancelled call).
 */
export function errorResult(err: unknown): HttpResult | undefined {
  if (err instanceof OAuthError) return jsonResult(err.status, errorBody(err), { ...NO_STORE, ...err.headers });
  const kind = err instanceof AuthzError ? err.kind : "internal";
  if (kind === "cancelled") return undefined;
  const row = ERROR_TABLE[kind];
  const error = row.oauth ?? "server_error";
  const status = row.oauth ? row.http : 500;
  const headers: Record<string, string> = { ...NO_STORE };
  if (err instanceof AuthzError && err.retryAfterSeconds !== undefined) headers["retry-after"] = String(err.retryAfterSeconds);
  const description = error === "server_error" ? "the server could not handle the request" : (err as Error).message;
  return jsonResult(status, { error, error_description: description }, headers);
}
