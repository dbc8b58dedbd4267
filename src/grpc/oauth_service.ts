import type * as grpc from "@grpc/grpc-js";
import { OAuthServiceService, type OAuthServiceServer } from "../../gen/authz/v1/oauth.js";
import type { HttpBody } from "../../gen/google/api/httpbody.js";
import type { Logger } from "../log.js";
import { InvalidClientMetadata, OAuthError } from "../oauth/errors.js";
import { handleIntrospection } from "../oauth/introspection.js";
import { parseBody } from "../oauth/params.js";
import type { OAuthDeps } from "../oauth/ports.js";
import { handleRegistration, type RegistrationDeps } from "../oauth/registration.js";
import { handleRevocation } from "../oauth/revocation.js";
import { handleTokenRequest } from "../oauth/token_endpoint.js";
import { authorizationOf, httpResponse, NO_STORE, oauthErrorResponse } from "./http_response.js";
import { unary } from "./unary.js";

export interface OAuthServiceDeps {
  oauth: OAuthDeps;
  registration: RegistrationDeps;
  /** Precomputed JWK Set document and its cache lifetime. */
  jwks(): { body: Buffer; maxAge: number };
  /** Precomputed RFC 8414 metadata. */
  metadata: Record<string, unknown>;
}

type Call = grpc.ServerUnaryCall<unknown, unknown>;

/**
 * The OAuth HTTP endpoints as HttpBody RPCs. Protocol errors are successful RPCs
 * carrying an RFC 6749 §5.2 body and `x-http-code`; only faults are gRPC errors.
 */
export function oauthService(deps: OAuthServiceDeps, logger: Logger) {
  const endpoint = (run: (body: HttpBody, call: Call) => Promise<{ httpBody: HttpBody }>) =>
    unary(logger, async (req: { httpBody?: HttpBody }, call: Call) => {
      try {
        return await run(req.httpBody ?? { contentType: "", data: Buffer.alloc(0), extensions: [] }, call);
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        if (err.detail) logger.debug("oauth error", { method: call.getPath(), error: err.error, detail: err.detail });
        return oauthErrorResponse(call, err);
      }
    });
  const request = (body: HttpBody, call: Call) => ({ params: parseBody(body.contentType, body.data), authorization: authorizationOf(call) });

  const implementation: OAuthServiceServer = {
    token: endpoint(async (body, call) => httpResponse(call, 200, await handleTokenRequest(request(body, call), deps.oauth), NO_STORE)),
    introspect: endpoint(async (body, call) => httpResponse(call, 200, await handleIntrospection(request(body, call), deps.oauth), NO_STORE)),
    revoke: endpoint(async (body, call) => {
      await handleRevocation(request(body, call), deps.oauth);
      return httpResponse(call, 200, undefined, NO_STORE);
    }),
    register: endpoint(async (body, call) => {
      const result = await handleRegistration({ body: parseRegistrationBody(body), authorization: authorizationOf(call) }, deps.registration);
      return httpResponse(call, 201, result, NO_STORE); // RFC 7591 §3.2.1: 201 Created
    }),
    getJwks: endpoint(async (_body, call) => {
      const { body, maxAge } = deps.jwks();
      return httpResponse(call, 200, body, { "cache-control": `public, max-age=${maxAge}` });
    }),
    getServerMetadata: endpoint(async (_body, call) => httpResponse(call, 200, deps.metadata, { "cache-control": "public, max-age=3600" })),
  };
  return { definition: OAuthServiceService, implementation };
}

/** RFC 7591 §3.1: the request is a JSON object. */
function parseRegistrationBody(body: HttpBody): Record<string, unknown> {
  if (!/^application\/json\s*(;|$)/i.test(body.contentType)) throw new InvalidClientMetadata("not JSON", "the registration request must be application/json");
  try {
    const value: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body.data));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new InvalidClientMetadata("malformed JSON", "the registration request must be a JSON object");
}
