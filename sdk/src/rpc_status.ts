/**
 * Reading the rich error model (google.rpc.Status in `grpc-status-details-bin`)
 * off a grpc-js error: ErrorInfo, RetryInfo, BadRequest, and the server's
 * `retry-after` metadata.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { BadRequest, ErrorInfo, RetryInfo } from "./gen/google/rpc/error_details.js";
import { Status } from "./gen/google/rpc/status.js";

/** The typed details of a failed gRPC call that the SDK understands. */
export interface RpcErrorDetails {
  /** google.rpc.ErrorInfo: on TokenService errors `reason` is the RFC 6749 error code. */
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  /** google.rpc.RetryInfo `retry_delay`, in ms. */
  retryDelayMs?: number;
  /** google.rpc.BadRequest field violations. */
  fieldViolations?: Array<{ field: string; description: string }>;
}

const TYPE = "type.googleapis.com/";

/**
 * Decodes the google.rpc.Status details of a grpc-js ServiceError. Unknown or
 * undecodable details are ignored; an error without details gives `{}`.
 */
export function rpcErrorDetails(err: Pick<grpc.ServiceError, "metadata"> | undefined): RpcErrorDetails {
  const raw = err?.metadata?.get("grpc-status-details-bin")[0];
  if (!raw || typeof raw === "string") return {};
  const out: RpcErrorDetails = {};
  try {
    for (const any of Status.decode(raw).details) {
      if (any.typeUrl === `${TYPE}google.rpc.ErrorInfo`) {
        const info = ErrorInfo.decode(any.value);
        out.errorInfo = { reason: info.reason, domain: info.domain, metadata: info.metadata };
      } else if (any.typeUrl === `${TYPE}google.rpc.RetryInfo`) {
        const d = RetryInfo.decode(any.value).retryDelay;
        if (d) out.retryDelayMs = Math.max(0, d.seconds * 1000 + Math.round(d.nanos / 1e6));
      } else if (any.typeUrl === `${TYPE}google.rpc.BadRequest`) {
        out.fieldViolations = BadRequest.decode(any.value).fieldViolations.map(({ field, description }) => ({ field, description }));
      }
    }
  } catch {
    // A malformed details blob is no reason to lose the status itself.
  }
  return out;
}

/**
 * The delay the server asks for before a retry, in ms: google.rpc.RetryInfo
 * first, else a `retry-after` metadata value in seconds. `undefined` if neither.
 */
export function grpcRetryAfterMs(err: Pick<grpc.ServiceError, "metadata"> | undefined): number | undefined {
  const fromDetails = rpcErrorDetails(err).retryDelayMs;
  if (fromDetails !== undefined) return fromDetails;
  const value = err?.metadata?.get("retry-after")[0];
  return typeof value === "string" ? parseRetryAfter(value, Date.now()) : undefined;
}

/**
 * Parses an HTTP `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an
 * HTTP-date (relative to `now`). Returns ms, or `undefined` when unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
