/**
 * The one error table. Every failure the service reports is an `AuthzError`
 * of one kind (or an OAuth protocol error, src/oauth/errors.ts); this table
 * says what each kind is on every transport: the gRPC status code, the HTTP
 * status (Envoy's grpcToHttpStatus mapping, so the embedded gateway and Envoy
 * agree), and the RFC 6749 §5.2 / RFC 7662 error code an OAuth endpoint
 * answers with when the failure is not the client's (faults). Anything thrown
 * that is not an AuthzError is a fault: INTERNAL, fixed text, cause logged only.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export type ErrorKind =
  | "invalid_argument"
  | "out_of_range"
  | "not_found"
  | "already_exists"
  | "aborted"
  | "failed_precondition"
  | "permission_denied"
  | "unauthenticated"
  | "resource_exhausted"
  | "unavailable"
  | "cancelled"
  | "deadline_exceeded"
  | "internal";

interface KindRow {
  grpc: GrpcCode;
  /** HTTP status (grpcToHttpStatus). */
  http: number;
  /** The RFC 6749 `error` an OAuth endpoint answers with for this kind of fault (only kinds that can reach one). */
  oauth?: string;
}

export const ERROR_TABLE: Readonly<Record<ErrorKind, KindRow>> = Object.freeze({
  // Malformed input that is no OAuth error of its own (an undecodable message): the client's fault, never server_error.
  invalid_argument: { grpc: GrpcCode.INVALID_ARGUMENT, http: 400, oauth: "invalid_request" },
  out_of_range: { grpc: GrpcCode.OUT_OF_RANGE, http: 400, oauth: "invalid_request" },
  not_found: { grpc: GrpcCode.NOT_FOUND, http: 404 },
  already_exists: { grpc: GrpcCode.ALREADY_EXISTS, http: 409 },
  aborted: { grpc: GrpcCode.ABORTED, http: 409 },
  failed_precondition: { grpc: GrpcCode.FAILED_PRECONDITION, http: 400 },
  permission_denied: { grpc: GrpcCode.PERMISSION_DENIED, http: 403 },
  unauthenticated: { grpc: GrpcCode.UNAUTHENTICATED, http: 401 },
  // RFC 6749 §5.2 has no rate-limit code; `slow_down` (RFC 8628 §3.5) is the registered one that says "retry later, slower".
  resource_exhausted: { grpc: GrpcCode.RESOURCE_EXHAUSTED, http: 429, oauth: "slow_down" },
  // RFC 6749 §4.1.2.1 temporarily_unavailable: the store (or another dependency) is down; never invalid_client.
  unavailable: { grpc: GrpcCode.UNAVAILABLE, http: 503, oauth: "temporarily_unavailable" },
  cancelled: { grpc: GrpcCode.CANCELLED, http: 499 },
  deadline_exceeded: { grpc: GrpcCode.DEADLINE_EXCEEDED, http: 504, oauth: "temporarily_unavailable" },
  internal: { grpc: GrpcCode.INTERNAL, http: 500, oauth: "server_error" },
});

/**
 * The RFC error codes of OAuth protocol errors: their HTTP status on the OAuth
 * endpoints (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2), and their kind,
 * which says what they are on typed gRPC calls (TokenService): the caller's
 * credentials -> UNAUTHENTICATED, a client using what it may not ->
 * PERMISSION_DENIED, anything else about the request -> INVALID_ARGUMENT.
 */
export const OAUTH_ERROR_TABLE: Readonly<Record<string, { kind: ErrorKind; http: number }>> = Object.freeze({
  invalid_request: { kind: "invalid_argument", http: 400 },
  invalid_client: { kind: "unauthenticated", http: 401 },
  invalid_grant: { kind: "invalid_argument", http: 400 },
  unauthorized_client: { kind: "permission_denied", http: 400 },
  unsupported_grant_type: { kind: "invalid_argument", http: 400 },
  invalid_scope: { kind: "invalid_argument", http: 400 },
  invalid_target: { kind: "invalid_argument", http: 400 },
  unsupported_token_type: { kind: "invalid_argument", http: 400 },
  invalid_client_metadata: { kind: "invalid_argument", http: 400 },
  invalid_token: { kind: "unauthenticated", http: 401 },
  // RFC 6750 §3.1: authenticated, but without the permission this needs.
  insufficient_scope: { kind: "permission_denied", http: 403 },
  slow_down: { kind: "resource_exhausted", http: 429 },
  // RFC 9449 §5: a DPoP proof that is missing where required, malformed or fails a check.
  invalid_dpop_proof: { kind: "invalid_argument", http: 400 },
  // RFC 9449 §8: retry with the nonce in the DPoP-Nonce header.
  use_dpop_nonce: { kind: "invalid_argument", http: 400 },
  temporarily_unavailable: { kind: "unavailable", http: 503 },
  server_error: { kind: "internal", http: 500 },
});

/** One field that failed validation (google.rpc.BadRequest.FieldViolation). */
export interface FieldViolation {
  /** Proto field path, e.g. `api_server.permissions[2].value`. */
  field: string;
  description: string;
}

/**
 * Base of every error the service reports on purpose. `message` is safe to
 * send to callers; anything private goes in `cause` (logged, never sent).
 */
export class AuthzError extends Error {
  override name = "AuthzError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options: {
      cause?: unknown;
      /** Response headers that go with the error (e.g. `www-authenticate`). */
      headers?: Record<string, string>;
      /** Seconds after which a retry makes sense (Retry-After, google.rpc.RetryInfo). */
      retryAfterSeconds?: number;
      /** google.rpc.BadRequest field violations. */
      violations?: FieldViolation[];
      /** google.rpc.ErrorInfo reason (stable machine-readable code) and metadata. */
      reason?: string;
      reasonMetadata?: Record<string, string>;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options.headers ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.violations = options.violations ?? [];
    this.reason = options.reason;
    this.reasonMetadata = options.reasonMetadata ?? {};
  }
  readonly headers: Record<string, string>;
  readonly retryAfterSeconds: number | undefined;
  readonly violations: FieldViolation[];
  readonly reason: string | undefined;
  readonly reasonMetadata: Record<string, string>;
}

/** A dependency (the store) cannot serve the request now; retry after a moment. Never "bad credentials". */
export class Unavailable extends AuthzError {
  override name = "Unavailable";
  constructor(what: string, cause?: unknown, retryAfterSeconds = 1) {
    super("unavailable", `${what} is temporarily unavailable; retry shortly`, { cause, retryAfterSeconds, headers: { "retry-after": String(retryAfterSeconds) } });
  }
}

/**
 * A rate limit or quota: retry after `retryAfterSeconds`. By the table: HTTP
 * 429 with Retry-After (OAuth endpoints: a `slow_down` body), gRPC
 * RESOURCE_EXHAUSTED with google.rpc.RetryInfo and ErrorInfo reason `slow_down`.
 */
export class ResourceExhausted extends AuthzError {
  override name = "ResourceExhausted";
  constructor(
    message: string,
    retryAfterSeconds: number,
    /** Which limit (a fixed set: the `limit` label of authz_rate_limited_total). */
    readonly limit: RateLimitName,
    cause?: unknown,
  ) {
    super("resource_exhausted", message, { cause, retryAfterSeconds, reason: "slow_down", headers: { "retry-after": String(retryAfterSeconds) } });
  }
}

export type RateLimitName = "token_rate" | "auth_failures_source" | "auth_failures_client" | "registration";

/** The caller gave up (client cancelled or the connection dropped). */
export class Cancelled extends AuthzError {
  override name = "Cancelled";
  constructor() {
    super("cancelled", "the call was cancelled");
  }
}

/** The call ran past its deadline (the caller's or the server's own bound). */
export class DeadlineExceeded extends AuthzError {
  override name = "DeadlineExceeded";
  constructor() {
    super("deadline_exceeded", "the call ran past its deadline");
  }
}

/** True for failures that mean the service itself failed (an error log line, with the cause). */
export function isFault(err: unknown): boolean {
  return !(err instanceof AuthzError) || err.kind === "internal" || err.kind === "unavailable";
}
