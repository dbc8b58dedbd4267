/**
 * OAuth protocol errors, one class per registered error code. `description` is
 * fixed, safe text sent to callers; `detail` is private and only logged
 * (never a lookup result or credential in the public text).
 */
export class OAuthError extends Error {
  override name = "OAuthError";
  constructor(
    /** The registered `error` code. */
    readonly error: string,
    /** Fixed public `error_description`. */
    readonly description: string,
    /** HTTP status of the error response. */
    readonly status: number,
    /** Private detail for logs. */
    readonly detail?: string,
  ) {
    super(detail ? `${error}: ${detail}` : error);
  }
}

function oauthError(error: string, description: string, status = 400) {
  return class extends OAuthError {
    static readonly code = error;
    constructor(detail?: string, publicDescription: string = description) {
      super(error, publicDescription, status, detail);
    }
  };
}

// RFC 6749 §5.2
export const InvalidRequest = oauthError("invalid_request", "the request is missing a parameter or is malformed");
export const InvalidGrant = oauthError("invalid_grant", "the grant is invalid, expired or revoked");
export const UnauthorizedClient = oauthError("unauthorized_client", "the client is not allowed to use this grant type");
export const UnsupportedGrantType = oauthError("unsupported_grant_type", "the grant type is not supported");
export const InvalidScope = oauthError("invalid_scope", "the requested scope is invalid or exceeds what was granted");
// RFC 6749 §5.2: 401 when the client tried to authenticate through the Authorization header.
export class InvalidClient extends OAuthError {
  static readonly code = "invalid_client";
  constructor(
    detail?: string,
    /** Whether the client used HTTP Basic (then 401 with WWW-Authenticate is required). */
    readonly viaAuthorizationHeader = false,
  ) {
    super("invalid_client", "client authentication failed", 401, detail);
  }
}
// RFC 8707 §2
export const InvalidTarget = oauthError("invalid_target", "the requested resource is unknown or not allowed for this client");
// RFC 7009 §2.2.1
export const UnsupportedTokenType = oauthError("unsupported_token_type", "the token type is not supported");
// RFC 7591 §3.2.2
export const InvalidClientMetadata = oauthError("invalid_client_metadata", "the client metadata is invalid");
// RFC 6750 §3.1 (bearer initial access token for registration)
export const InvalidToken = oauthError("invalid_token", "the access token is missing, invalid or expired", 401);
// Any unexpected fault: fixed text, cause only in logs.
export const ServerError = oauthError("server_error", "the server could not handle the request", 500);

/** The RFC 6749 §5.2 JSON body of an error. */
export function errorBody(err: OAuthError): { error: string; error_description: string } {
  return { error: err.error, error_description: err.description };
}
