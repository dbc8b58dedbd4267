import type { Context } from "../tracing.js";
import type { ClientCertificate } from "../pipeline/context.js";
import { credentialFields, presentedCredential, type PresentedCredential } from "./credentials.js";
import { parseBody, required } from "./params.js";
import type { OAuthHttpRequest } from "./http.js";

/** A token request (RFC 6749 §4.4.2, §6), built from an HTTP body or a typed message alike. */
export interface TokenRequest {
  grantType: string;
  credential: PresentedCredential;
  /** The API server asked for: `audience` (Auth0/AuthAction style) and/or RFC 8707 `resource`. */
  audience?: string;
  resource?: string;
  scope?: string;
  refreshToken?: string;
  /** The caller's address (CallContext.peer), for throttling only. */
  source?: string;
  /** The call's trace context (CallContext.traceContext): the parent of the step spans; none: not traced. */
  trace?: Context;
  /** The TLS client certificate of the request (authentication, RFC 8705 §2; binding, §3). */
  certificate?: ClientCertificate;
  /** The DPoP proof (RFC 9449 §4), as sent. */
  dpopProof?: string;
}

/** RFC 6749 §3.2: the token endpoint's form (or JSON) body and Authorization header. */
export function tokenRequestFromHttp(http: OAuthHttpRequest): TokenRequest {
  const params = parseBody(http.contentType, http.body);
  return {
    grantType: required(params, "grant_type"),
    credential: presentedCredential(http.authorization, credentialFields(params), http.certificate),
    audience: params.get("audience"),
    resource: params.get("resource"),
    scope: params.get("scope"),
    refreshToken: params.get("refresh_token"),
    source: http.source,
    trace: http.trace,
    certificate: http.certificate,
    dpopProof: http.dpop,
  };
}
