import { OAuthServiceService, type OAuthServiceServer } from "../../gen/authz/v1/oauth.js";
import type { HttpBody } from "../../gen/google/api/httpbody.js";
import type { OAuthEndpoints } from "../oauth/endpoints.js";
import { errorResult, type HttpResult, type OAuthHttpRequest } from "../oauth/http.js";
import type { CallContext } from "../pipeline/context.js";
import { bindService } from "./service.js";

const EMPTY = Buffer.alloc(0);

/**
 * The OAuth HTTP endpoints as HttpBody RPCs: the raw request in, the exact
 * RFC answer out, its status and headers in the call's response headers
 * (`x-http-code` for non-200). Failures — protocol errors and faults alike —
 * are rendered RFC-shaped (src/oauth/http.ts) rather than as gRPC errors.
 */
export function oauthService(endpoints: OAuthEndpoints) {
  return bindService<OAuthServiceServer>(
    OAuthServiceService,
    {
      token: async (req, ctx) => respond(ctx, await endpoints.token(httpRequest(req.httpBody, ctx))),
      introspect: async (req, ctx) => respond(ctx, await endpoints.introspect(httpRequest(req.httpBody, ctx))),
      revoke: async (req, ctx) => respond(ctx, await endpoints.revoke(httpRequest(req.httpBody, ctx))),
      register: async (req, ctx) => respond(ctx, await endpoints.register(httpRequest(req.httpBody, ctx))),
      getJwks: (_req, ctx) => respond(ctx, endpoints.jwks()),
      getServerMetadata: (_req, ctx) => respond(ctx, endpoints.metadata()),
    },
    {
      renderError(err, ctx) {
        const result = errorResult(err);
        return result && respond(ctx, result);
      },
    },
  );
}

function httpRequest(body: HttpBody | undefined, ctx: CallContext): OAuthHttpRequest {
  return {
    contentType: body?.contentType ?? "",
    body: body?.data ?? EMPTY,
    authorization: ctx.requestHeaders.get("authorization"),
    source: ctx.peer,
    trace: ctx.traceContext,
    certificate: ctx.clientCertificate,
    dpop: ctx.requestHeaders.get("dpop"),
  };
}

function respond(ctx: CallContext, result: HttpResult): { httpBody: HttpBody } {
  ctx.httpStatus = result.status;
  Object.assign(ctx.responseHeaders, result.headers);
  return { httpBody: { contentType: "application/json", data: result.body, extensions: [] } };
}
