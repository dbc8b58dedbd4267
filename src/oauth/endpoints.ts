// The OAuth HTTP endpoints: each takes the raw HTTP request and answers an
// HttpResult; failures are thrown and rendered by `errorResult` (src/oauth/http.ts).
import { credentialFields, presentedCredential } from "./credentials.js";
import { jsonResult, type HttpResult, type OAuthHttpRequest } from "./http.js";
import { introspect, introspectionCaller } from "./introspection.js";
import { parseBody, required } from "./params.js";
import type { OAuthDeps } from "./ports.js";
import { register, type RegistrationDeps } from "./registration.js";
import { revoke } from "./revocation.js";
import { issueToken } from "./token_endpoint.js";
import { tokenRequestFromHttp } from "./token_request.js";

export interface OAuthEndpointDeps {
  oauth: OAuthDeps;
  registration: RegistrationDeps;
  /** Precomputed JWK Set document and its cache lifetime. */
  jwks(): { body: Buffer; maxAge: number };
  /** Precomputed RFC 8414 metadata. */
  metadata: Record<string, unknown>;
}

export function oauthEndpoints(deps: OAuthEndpointDeps) {
  const metadata = Buffer.from(JSON.stringify(deps.metadata));
  return {
    /** RFC 6749 §3.2 */
    async token(http: OAuthHttpRequest): Promise<HttpResult> {
      return jsonResult(200, await issueToken(tokenRequestFromHttp(http), deps.oauth));
    },
    /** RFC 7662 §2 */
    async introspect(http: OAuthHttpRequest): Promise<HttpResult> {
      const params = parseBody(http.contentType, http.body);
      const fields = credentialFields(params);
      const caller = introspectionCaller(http.authorization, () => presentedCredential(http.authorization, fields), Boolean(fields.clientSecret || fields.clientAssertion));
      return jsonResult(200, await introspect({ caller, token: required(params, "token"), tokenTypeHint: params.get("token_type_hint"), source: http.source, trace: http.trace }, deps.oauth));
    },
    /** RFC 7009 §2.2: 200 with an empty body. */
    async revoke(http: OAuthHttpRequest): Promise<HttpResult> {
      const params = parseBody(http.contentType, http.body);
      await revoke({ credential: presentedCredential(http.authorization, credentialFields(params)), token: required(params, "token"), tokenTypeHint: params.get("token_type_hint"), source: http.source, trace: http.trace }, deps.oauth);
      return jsonResult(200, undefined);
    },
    /** RFC 7591 §3.2.1: 201 Created. */
    async register(http: OAuthHttpRequest): Promise<HttpResult> {
      return jsonResult(201, await register(http, deps.registration));
    },
    jwks(): HttpResult {
      const { body, maxAge } = deps.jwks();
      return jsonResult(200, body, { "cache-control": `public, max-age=${maxAge}` });
    },
    metadata(): HttpResult {
      return jsonResult(200, metadata, { "cache-control": "public, max-age=3600" });
    },
  };
}

export type OAuthEndpoints = ReturnType<typeof oauthEndpoints>;
