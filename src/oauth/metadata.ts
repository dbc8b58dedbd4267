// RFC 8414 OAuth 2.0 Authorization Server Metadata.
import { SIGNING_ALGS } from "../domain/api_servers.js";
import { AUTH_METHODS } from "../domain/constants.js";
import { ASSERTION_ALGS } from "./client_auth.js";

/** Built once at start: what this server actually supports. */
export function serverMetadata(issuer: string, options: { registration: boolean }): Record<string, unknown> {
  return {
    issuer,
    token_endpoint: `${issuer}/oauth/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    ...(options.registration ? { registration_endpoint: `${issuer}/oauth/register` } : {}),
    // M2M only: no authorization endpoint, so no response types (§2 lists the member as required).
    response_types_supported: [],
    grant_types_supported: ["client_credentials", "refresh_token"],
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    introspection_endpoint_auth_methods_supported: [...AUTH_METHODS, "bearer"],
    introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    revocation_endpoint_auth_methods_supported: AUTH_METHODS,
    revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    // RFC 9068 access tokens are signed with the API server's algorithm.
    access_token_signing_alg_values_supported: [...SIGNING_ALGS],
  };
}
