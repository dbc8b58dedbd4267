/**
 * The service's protocol vocabulary, defined once. Domain rules validate
 * against these; the OAuth endpoints, metadata and CLI read them from here.
 */

/** RFC 7591 §2 token_endpoint_auth_method values a client may register. */
export const AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
/** The methods whose keys are the client's registered `jwks` (RFC 7523 §2.2, RFC 8705 §2.2): a client with one must have it. */
export const JWKS_AUTH_METHODS: readonly AuthMethod[] = ["private_key_jwt", "self_signed_tls_client_auth"];
/** The RFC 8705 §2 methods: the client authenticates with its TLS client certificate. */
export const TLS_AUTH_METHODS: readonly AuthMethod[] = ["tls_client_auth", "self_signed_tls_client_auth"];
/** How an API server's tokens are bound to the client (proto SenderConstraint): bearer, RFC 8705 §3, RFC 9449. */
export const SENDER_CONSTRAINTS = ["none", "mtls", "dpop"] as const;
export type SenderConstraint = (typeof SENDER_CONSTRAINTS)[number];
/** The methods that present a client secret (RFC 6749 §2.3.1); either carries the same secret. */
export const SECRET_AUTH_METHODS: readonly AuthMethod[] = ["client_secret_basic", "client_secret_post"];

/** RFC 6749 grant types a client may use. */
export const GRANT_TYPES = ["client_credentials", "refresh_token"] as const;
export type GrantTypeName = (typeof GRANT_TYPES)[number];

/** RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ) — no spaces, quotes or backslashes. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** The built-in management API server: its audience and its id (created by migration 005). */
export const MANAGEMENT_AUDIENCE = "urn:authz:management";
export const MANAGEMENT_API_SERVER_ID = "as_management";
/** The identifier namespace of built-in API servers (compared case-insensitively: URN schemes and NIDs are). */
export const RESERVED_IDENTIFIER_PREFIX = "urn:authz:";

/**
 * Client ids: server-generated ones are `cl_` + 22 base64url characters;
 * operator-chosen ones (the bootstrap admin) use the RFC 3986 unreserved set.
 * Checked before any lookup, so an oversized or odd id never reaches a cache or the store.
 */
export const CLIENT_ID = /^[A-Za-z0-9._~-]{3,128}$/;
/** Server-assigned resource ids: a type prefix, `_`, then 1..64 URL-safe characters. */
export const RESOURCE_ID = /^[a-z]{2}_[A-Za-z0-9_-]{1,64}$/;
/** Audience values (identifiers and extra audiences): visible ASCII without spaces, at most 600 characters. */
export const AUDIENCE = /^[\x21-\x7E]{1,600}$/;

/** RFC 7518 §3.3, §3.5: RSA keys of at least 2048 bits (client keys, DPoP proof keys). */
export const MIN_RSA_BITS = 2048;
