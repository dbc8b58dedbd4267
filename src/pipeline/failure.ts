import { AuthzError, ERROR_TABLE, type ErrorKind, type FieldViolation, type GrpcCode } from "../errors.js";

/**
 * A failed call, transport-neutral: the one mapping from anything thrown to
 * what callers see (src/errors.ts has the table). Transports encode it (gRPC
 * status + google.rpc details; the gateway renders the same as HTTP).
 */
export interface Failure {
  kind: ErrorKind;
  code: GrpcCode;
  /** Safe text for the caller. */
  message: string;
  headers: Record<string, string>;
  violations: FieldViolation[];
  /** google.rpc.ErrorInfo */
  reason: string | undefined;
  reasonMetadata: Record<string, string>;
  /** google.rpc.RetryInfo (and Retry-After over HTTP). */
  retryAfterSeconds: number | undefined;
}

const INTERNAL_MESSAGE = "internal error";

export function toFailure(err: unknown): Failure {
  if (err instanceof AuthzError) {
    return {
      kind: err.kind,
      code: ERROR_TABLE[err.kind].grpc,
      message: err.kind === "internal" ? INTERNAL_MESSAGE : err.message,
      headers: err.headers,
      violations: err.violations,
      reason: err.reason,
      reasonMetadata: err.reasonMetadata,
      retryAfterSeconds: err.retryAfterSeconds,
    };
  }
  return { kind: "internal", code: ERROR_TABLE.internal.grpc, message: INTERNAL_MESSAGE, headers: {}, violations: [], reason: undefined, reasonMetadata: {}, retryAfterSeconds: undefined };
}
