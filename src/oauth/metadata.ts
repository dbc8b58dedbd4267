// RFC 8414 OAuth 2.0 Authorization Server Metadata.
import { SIGNING_ALGS } from "../domain/api_servers.js";
import { AUTH_METHODS, TLS_AUTH_METHODS } from "../domain/constants.js";
import { ASSERTION_ALGS } from "./client_auth.js";
import { DPOP_ALGS } from "./dpop.js";
import { tokenEndpointUrl } from "./sender_constraint.js";

/** Built once at start: what this server actually supports. */
export function serverMetadata(issuer: string, options: { registration: boolean; mtls: boolean }): Record<string, unknown> {
  // The RFC 8705 methods only where client certificates can arrive (a client CA is configured).
  const methods = options.mtls ? AUTH_METHODS : AUTH_METHODS.filter((m) => !TLS_AUTH_METHODS.includes(m));
  return {
    issuer,
    token_endpoint: tokenEndpointUrl(issuer),
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    ...(options.registration ? { registration_endpoint: `${issuer}/oauth/register` } : {}),
    // M2M only: no authorization endpoint, so no response types (§2 lists the member as required).
    response_types_supported: [],
    grant_types_supported: ["client_credentials", "refresh_token"],
    token_endpoint_auth_methods_supported: methods,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    introspection_endpoint_auth_methods_supported: [...methods, "bearer"],
    introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    revocation_endpoint_auth_methods_supported: methods,
    revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    // RFC 9068 access tokens are signed with the API server's algorithm.
    access_token_signing_alg_values_supported: [...SIGNING_ALGS],
    // RFC 8705 §3.3: certificate-bound tokens (the same endpoints serve mTLS: no mtls_endpoint_aliases).
    tls_client_certificate_bound_access_tokens: options.mtls,
    // RFC 9449 §5.1
    dpop_signing_alg_values_supported: [...DPOP_ALGS],
  };
}
