import { AuthzError, OAUTH_ERROR_TABLE, type ErrorKind } from "../errors.js";
import type { ClientAuthFailure } from "./guard.js";

/**
 * OAuth protocol errors, one class per registered error code. `description` is
 * fixed, safe text sent to callers; `detail` is private and only logged
 * (never a lookup result or credential in the public text). Their kind (and so
 * their gRPC status on typed calls) comes from the error table in src/errors.ts.
 */
export class OAuthError extends AuthzError {
  override name = "OAuthError";
  /** HTTP status of the error response on the OAuth endpoints. */
  readonly status: number;
  constructor(
    /** The registered `error` code. */
    readonly error: string,
    /** Fixed public `error_description`. */
    readonly description: string,
    /** Private detail for logs. */
    readonly detail?: string,
    headers: Record<string, string> = {},
    row: { kind: ErrorKind; http: number } | undefined = OAUTH_ERROR_TABLE[error],
  ) {
    if (!row) throw new Error(`unregistered OAuth error ${error}`);
    super(row.kind, description, { reason: error, headers });
    this.status = row.http;
  }
}

function oauthError(error: string, description: string) {
  return class extends OAuthError {
    static readonly code = error;
    constructor(detail?: string, publicDescription: string = description) {
      super(error, publicDescription, detail);
    }
  };
}

// RFC 6749 §5.2
export const InvalidRequest = oauthError("invalid_request", "the request is missing a parameter or is malformed");
export const InvalidGrant = oauthError("invalid_grant", "the grant is invalid, expired or revoked");
export const UnauthorizedClient = oauthError("unauthorized_client", "the client is not allowed to use this grant type");
export const UnsupportedGrantType = oauthError("unsupported_grant_type", "the grant type is not supported");
export const InvalidScope = oauthError("invalid_scope", "the requested scope is invalid or exceeds what was granted");
// RFC 9449 §5
export const InvalidDpopProof = oauthError("invalid_dpop_proof", "the DPoP proof is missing, malformed or invalid");

/** RFC 9449 §8: the proof lacks the server's current nonce; the `DPoP-Nonce` header carries it. */
export class UseDpopNonce extends OAuthError {
  static readonly code = "use_dpop_nonce";
  constructor(nonce: string, detail?: string) {
    super("use_dpop_nonce", "retry with the DPoP-Nonce header's nonce in the DPoP proof", detail, { "dpop-nonce": nonce });
  }
}

/**
 * RFC 6749 §5.2: client authentication failed. The 401 carries a
 * `WWW-Authenticate` challenge only when the client authenticated through the
 * Authorization header ("If the client attempted to authenticate via the
 * Authorization request header field..."); a client that sent its
 * credentials in the body gets none, so OAuth clients see the error body.
 */
export class InvalidClient extends OAuthError {
  static readonly code = "invalid_client";
  constructor(
    detail?: string,
    viaAuthorizationHeader = false,
    /** Why, from a fixed set (metrics); never sent. */
    readonly failure: ClientAuthFailure = "bad_credentials",
  ) {
    super("invalid_client", "client authentication failed", detail, viaAuthorizationHeader ? { "www-authenticate": 'Basic realm="authz"' } : {});
  }
}

// RFC 8707 §2
export const InvalidTarget = oauthError("invalid_target", "the requested resource is unknown or not allowed for this client");
// RFC 7009 §2.2.1
export const UnsupportedTokenType = oauthError("unsupported_token_type", "the token type is not supported");
// RFC 7591 §3.2.2
export const InvalidClientMetadata = oauthError("invalid_client_metadata", "the client metadata is invalid");

/** RFC 6750 §3.1: a bearer token (e.g. registration's initial access token) is missing or wrong. */
export class InvalidToken extends OAuthError {
  static readonly code = "invalid_token";
  constructor(detail?: string) {
    super("invalid_token", "the access token is missing, invalid or expired", detail, { "www-authenticate": 'Bearer error="invalid_token"' });
  }
}

/**
 * RFC 6750 §3.1 insufficient_scope: the caller authenticated, but lacks the
 * permission the endpoint needs (named, so good credentials never read as bad ones).
 */
export class InsufficientScope extends OAuthError {
  static readonly code = "insufficient_scope";
  constructor(permission: string, viaBearer: boolean) {
    super(
      "insufficient_scope",
      `the caller lacks the permission ${permission}`,
      `caller lacks ${permission}`,
      viaBearer ? { "www-authenticate": `Bearer error="insufficient_scope", scope="${permission}"` } : {},
    );
  }
}

/** A disabled endpoint answers 404, as if it did not exist (with an RFC body: the route itself exists). */
export class EndpointDisabled extends OAuthError {
  constructor(what: string) {
    super("invalid_request", `${what} is not enabled`, undefined, {}, { kind: "not_found", http: 404 });
  }
}

/** The RFC 6749 §5.2 JSON body of an error. */
export function errorBody(err: OAuthError): { error: string; error_description: string } {
  return { error: err.error, error_description: err.description };
}
