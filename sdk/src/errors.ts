/**
 * Typed errors of the SDK. Every error has a stable `code` string (as jose's
 * errors do): branch on `code`, never on `message`. Messages never contain
 * tokens, secrets or authorization headers.
 *
 * @module
 */

/** Base class of every error the SDK throws on purpose. */
export class AuthzError extends Error {
  override name = "AuthzError";
  /** Stable, machine-readable code, e.g. `ERR_TOKEN_EXPIRED`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Codes of {@link TokenVerificationError}. */
export type VerificationErrorCode =
  | "ERR_TOKEN_MISSING"
  | "ERR_TOKEN_MALFORMED"
  | "ERR_TOKEN_TYPE"
  | "ERR_TOKEN_ALG"
  | "ERR_TOKEN_KEY_UNKNOWN"
  | "ERR_TOKEN_SIGNATURE"
  | "ERR_TOKEN_EXPIRED"
  | "ERR_TOKEN_NOT_YET_VALID"
  | "ERR_TOKEN_ISSUER"
  | "ERR_TOKEN_AUDIENCE"
  | "ERR_TOKEN_CLAIM_MISSING"
  | "ERR_TOKEN_REVOKED"
  /** RFC 8705 §3: a certificate-bound token (`cnf.x5t#S256`) without a TLS client certificate. */
  | "ERR_TOKEN_CERTIFICATE_MISSING"
  /** RFC 8705 §3: the TLS client certificate is not the one the token is bound to. */
  | "ERR_TOKEN_CERTIFICATE_MISMATCH"
  /** RFC 9449 §7.2: a DPoP-bound token (`cnf.jkt`) presented as a bearer token (or without the DPoP scheme). */
  | "ERR_TOKEN_DPOP_REQUIRED"
  /** The `DPoP` scheme with a token that is not DPoP-bound. */
  | "ERR_TOKEN_NOT_DPOP_BOUND"
  /** The `cnf` claim is malformed or names a confirmation method the SDK cannot check. */
  | "ERR_TOKEN_CONFIRMATION"
  /** RFC 9449 §7.1: `Authorization: DPoP` without a (single) `DPoP` proof. */
  | "ERR_DPOP_PROOF_MISSING"
  /** The proof is not a valid DPoP proof: shape, `typ`, `alg`, `jwk`, signature or required claims (RFC 9449 §4.3 steps 1–8). */
  | "ERR_DPOP_PROOF_INVALID"
  /** The proof's `htm` or `htu` is not this request's method or URL (§4.3 steps 8–9). */
  | "ERR_DPOP_PROOF_MISMATCH"
  /** The proof's `iat` is outside the accepted window (§4.3 step 11). */
  | "ERR_DPOP_PROOF_IAT"
  /** The proof's `ath` is missing or not the hash of the presented token (§4.3 step 12, §7.1). */
  | "ERR_DPOP_PROOF_ATH"
  /** The proof is signed by another key than the one the token is bound to (§4.3 step 12). */
  | "ERR_DPOP_PROOF_KEY"
  /** The proof's `jti` was seen before within the window (§11.1). */
  | "ERR_DPOP_PROOF_REPLAYED"
  | "ERR_INSUFFICIENT_SCOPE"
  | "ERR_JWKS_UNAVAILABLE"
  | "ERR_REVOCATION_WATCH_DOWN"
  | "ERR_INTROSPECTION_UNAVAILABLE";

/** The RFC 6750 §3.1 / RFC 9449 §7.1 error code of a challenge. */
export type ChallengeError = "invalid_token" | "insufficient_scope" | "invalid_dpop_proof";

/** The authentication scheme a challenge is for: RFC 6750 `Bearer` or RFC 9449 `DPoP`. */
export type AuthScheme = "Bearer" | "DPoP";

/** How a verification failure is answered: HTTP status and RFC 6750 §3.1 error code. */
export interface VerificationErrorMapping {
  /** 401, 403 or 503. */
  status: 401 | 403 | 503;
  /**
   * RFC 6750 error code for `WWW-Authenticate`; `undefined` when the request
   * carried no token (§3.1: no error code then) or the failure is the resource
   * server's own (503). `invalid_dpop_proof` is RFC 9449 §7.1's.
   */
  error: ChallengeError | undefined;
  /** The scheme the challenge is for whatever the token was presented with (`DPoP` for proof errors); else the presentation's. */
  scheme?: AuthScheme;
}

/** The one table from verification error codes to HTTP status and RFC 6750 error. */
export const VERIFICATION_ERRORS: Readonly<Record<VerificationErrorCode, VerificationErrorMapping>> = {
  ERR_TOKEN_MISSING: { status: 401, error: undefined },
  ERR_TOKEN_MALFORMED: { status: 401, error: "invalid_token" },
  ERR_TOKEN_TYPE: { status: 401, error: "invalid_token" },
  ERR_TOKEN_ALG: { status: 401, error: "invalid_token" },
  ERR_TOKEN_KEY_UNKNOWN: { status: 401, error: "invalid_token" },
  ERR_TOKEN_SIGNATURE: { status: 401, error: "invalid_token" },
  ERR_TOKEN_EXPIRED: { status: 401, error: "invalid_token" },
  ERR_TOKEN_NOT_YET_VALID: { status: 401, error: "invalid_token" },
  ERR_TOKEN_ISSUER: { status: 401, error: "invalid_token" },
  ERR_TOKEN_AUDIENCE: { status: 401, error: "invalid_token" },
  ERR_TOKEN_CLAIM_MISSING: { status: 401, error: "invalid_token" },
  ERR_TOKEN_REVOKED: { status: 401, error: "invalid_token" },
  ERR_TOKEN_CERTIFICATE_MISSING: { status: 401, error: "invalid_token" },
  ERR_TOKEN_CERTIFICATE_MISMATCH: { status: 401, error: "invalid_token" },
  ERR_TOKEN_DPOP_REQUIRED: { status: 401, error: "invalid_token", scheme: "DPoP" },
  ERR_TOKEN_NOT_DPOP_BOUND: { status: 401, error: "invalid_token", scheme: "Bearer" },
  ERR_TOKEN_CONFIRMATION: { status: 401, error: "invalid_token" },
  ERR_DPOP_PROOF_MISSING: { status: 401, error: "invalid_dpop_proof", scheme: "DPoP" },
  ERR_DPOP_PROOF_INVALID: { status: 401, error: "invalid_dpop_proof", scheme: "DPoP" },
  ERR_DPOP_PROOF_MISMATCH: { status: 401, error: "invalid_dpop_proof", scheme: "DPoP" },
  ERR_DPOP_PROOF_IAT: { status: 401, error: "invalid_dpop_proof", scheme: "DPoP" },
  ERR_DPOP_PROOF_ATH: { status: 401, error: "invalid_dpop_proof", scheme: "DPoP" },
  ERR_DPOP_PROOF_KEY: { status: 401, error: "invalid_dpop_proof", scheme: "DPoP" },
  ERR_DPOP_PROOF_REPLAYED: { status: 401, error: "invalid_dpop_proof", scheme: "DPoP" },
  ERR_INSUFFICIENT_SCOPE: { status: 403, error: "insufficient_scope" },
  ERR_JWKS_UNAVAILABLE: { status: 503, error: undefined },
  ERR_REVOCATION_WATCH_DOWN: { status: 503, error: undefined },
  ERR_INTROSPECTION_UNAVAILABLE: { status: 503, error: undefined },
};

/**
 * A token was refused by a {@link Verifier} (or a scope check). `status` and
 * `error` say how to answer (RFC 6750 §3); the middleware does that for you.
 */
export class TokenVerificationError extends AuthzError {
  override name = "TokenVerificationError";
  declare readonly code: VerificationErrorCode;
  /** HTTP status to answer with. */
  readonly status: 401 | 403 | 503;
  /** RFC 6750 (or RFC 9449 `invalid_dpop_proof`) error code, if the challenge carries one. */
  readonly error: ChallengeError | undefined;
  /** The scheme to challenge with: `DPoP` for proof errors and for tokens presented with the DPoP scheme, else `Bearer`. */
  readonly scheme: AuthScheme;
  /** For `ERR_INSUFFICIENT_SCOPE`: the scopes the request needs (space-separated). */
  readonly scope: string | undefined;
  /** For `ERR_TOKEN_CLAIM_MISSING`: the claim. */
  readonly claim: string | undefined;

  constructor(code: VerificationErrorCode, message: string, options: { cause?: unknown; scope?: string; claim?: string; scheme?: AuthScheme } = {}) {
    super(code, message, { cause: options.cause });
    const mapping = VERIFICATION_ERRORS[code];
    this.status = mapping.status;
    this.error = mapping.error;
    this.scope = options.scope;
    this.claim = options.claim;
    this.scheme = mapping.scheme ?? options.scheme ?? "Bearer";
  }

  /** This error challenging with `scheme` (unless its code fixes the scheme). */
  withScheme(scheme: AuthScheme): TokenVerificationError {
    if (this.scheme === scheme || VERIFICATION_ERRORS[this.code].scheme) return this;
    const copy = new TokenVerificationError(this.code, this.message, { cause: this.cause, scope: this.scope, claim: this.claim, scheme });
    copy.stack = this.stack;
    return copy;
  }
}

/** Codes of {@link TokenSourceError}. */
export type TokenSourceErrorCode =
  /** The authorization server refused the request (an OAuth error such as `invalid_client`); not retried. */
  | "ERR_TOKEN_REQUEST_REFUSED"
  /** The token endpoint could not be reached or kept answering UNAVAILABLE / 503 / 429 after the retries. */
  | "ERR_TOKEN_ENDPOINT_UNAVAILABLE"
  /** The token endpoint answered something that is not a token response. */
  | "ERR_TOKEN_RESPONSE_INVALID"
  /** The token source was closed. */
  | "ERR_TOKEN_SOURCE_CLOSED";

/**
 * A {@link TokenSource} could not hand out a token. It never hands out an
 * expired one: when renewal fails after the cached token expired, this is thrown.
 */
export class TokenSourceError extends AuthzError {
  override name = "TokenSourceError";
  declare readonly code: TokenSourceErrorCode;
  /** Whether trying again later may help (UNAVAILABLE, 503, 429, network errors). */
  readonly retryable: boolean;
  /** Server-requested delay (RetryInfo / `retry-after` / `Retry-After`), in ms. */
  readonly retryAfterMs: number | undefined;
  /** The RFC 6749 §5.2 error code, when the server sent one (e.g. `invalid_client`). */
  readonly oauthError: string | undefined;
  /** The gRPC status code of the failed call, for the gRPC transport. */
  readonly grpcCode: number | undefined;
  /** The HTTP status of the failed call, for the HTTP transport. */
  readonly httpStatus: number | undefined;
  /** The server's `DPoP-Nonce` (RFC 9449 §8), sent with `use_dpop_nonce`. */
  readonly dpopNonce: string | undefined;

  constructor(
    code: TokenSourceErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; retryAfterMs?: number; oauthError?: string; grpcCode?: number; httpStatus?: number; dpopNonce?: string } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.oauthError = options.oauthError;
    this.grpcCode = options.grpcCode;
    this.httpStatus = options.httpStatus;
    this.dpopNonce = options.dpopNonce;
  }
}

/** Codes of {@link RevocationWatchError} (reported to `onError`, never thrown from `verify`). */
export type RevocationWatchErrorCode =
  /** The stream failed or could not be opened; the watch reconnects with backoff. */
  | "ERR_WATCH_STREAM"
  /** The server ended the stream; the watch reconnects. */
  | "ERR_WATCH_STREAM_ENDED"
  /** The cursor is older than the feed's retention: the watch restarted at the feed's end (see `gapBefore`). */
  | "ERR_WATCH_CURSOR_EXPIRED"
  /** No management token for the watch. */
  | "ERR_WATCH_TOKEN"
  /** No message for `maxStaleSeconds`: the stream was presumed dead and reopened. */
  | "ERR_WATCH_STALE";

/** A problem of the revocation watch, reported through its `onError` option. */
export class RevocationWatchError extends AuthzError {
  override name = "RevocationWatchError";
  declare readonly code: RevocationWatchErrorCode;
  /** The gRPC status code, when the stream failed with one. */
  readonly grpcCode: number | undefined;

  constructor(code: RevocationWatchErrorCode, message: string, options: { cause?: unknown; grpcCode?: number } = {}) {
    super(code, message, { cause: options.cause });
    this.grpcCode = options.grpcCode;
  }
}

/** Invalid options given to a constructor or factory of the SDK (`ERR_INVALID_OPTIONS`). */
export class InvalidOptionsError extends AuthzError {
  override name = "InvalidOptionsError";
  constructor(message: string) {
    super("ERR_INVALID_OPTIONS", message);
  }
}
