import type * as grpc from "@grpc/grpc-js";
import {
  TokenServiceService,
  type ClientAuthentication,
  type IntrospectTokenResponse,
  type TokenServiceServer,
} from "../../gen/authz/v1/token.js";
import type { Logger } from "../log.js";
import { handleIntrospection } from "../oauth/introspection.js";
import type { Params } from "../oauth/params.js";
import type { OAuthDeps } from "../oauth/ports.js";
import { handleRevocation } from "../oauth/revocation.js";
import { handleTokenRequest } from "../oauth/token_endpoint.js";
import { authorizationOf } from "./http_response.js";
import { unary } from "./unary.js";

/**
 * Typed token operations for internal callers. Same rules as the HTTP
 * endpoints (the same handlers); OAuth errors become gRPC statuses with a
 * google.rpc.ErrorInfo whose reason is the RFC error code (src/grpc/status.ts).
 */
export function tokenService(deps: OAuthDeps, logger: Logger) {
  const implementation: TokenServiceServer = {
    issueToken: unary(logger, async (req, call) => {
      const params = paramsOf(req.client, {
        grant_type: req.grantType || "client_credentials",
        audience: req.audience,
        resource: req.resource,
        scope: req.scope,
        refresh_token: req.refreshToken,
      });
      const body = await handleTokenRequest({ params, authorization: basicOnly(call), typed: true }, deps);
      return {
        accessToken: body.access_token,
        tokenType: body.token_type,
        expiresIn: body.expires_in,
        scope: body.scope ?? "",
        refreshToken: body.refresh_token ?? "",
      };
    }),
    introspectToken: unary(logger, async (req, call) => {
      const params = paramsOf(req.client, { token: req.token, token_type_hint: req.tokenTypeHint });
      const body = await handleIntrospection({ params, authorization: authorizationOf(call), typed: true }, deps);
      const response: IntrospectTokenResponse = {
        active: body.active,
        scope: body.scope ?? "",
        clientId: body.client_id ?? "",
        tokenType: body.token_type ?? "",
        exp: body.exp ?? 0,
        iat: body.iat ?? 0,
        nbf: body.nbf ?? 0,
        sub: body.sub ?? "",
        aud: body.aud ? [body.aud] : [],
        iss: body.iss ?? "",
        jti: body.jti ?? "",
        permissions: body.permissions ?? [],
      };
      return response;
    }),
    revokeToken: unary(logger, async (req, call) => {
      await handleRevocation({ params: paramsOf(req.client, { token: req.token, token_type_hint: req.tokenTypeHint }), authorization: basicOnly(call), typed: true }, deps);
      return {};
    }),
  };
  return { definition: TokenServiceService, implementation };
}

/** Typed fields -> the same parameter map the HTTP endpoints parse; empty strings are absent. */
function paramsOf(client: ClientAuthentication | undefined, fields: Record<string, string>): Params {
  const all: Record<string, string> = {
    client_id: client?.clientId ?? "",
    client_secret: client?.clientSecret ?? "",
    client_assertion_type: client?.clientAssertionType ?? "",
    client_assertion: client?.clientAssertion ?? "",
    ...fields,
  };
  return new Map(Object.entries(all).filter(([, v]) => v !== ""));
}

/** Typed callers may also send HTTP Basic client credentials in metadata; a Bearer header is not client authentication here. */
function basicOnly(call: grpc.ServerUnaryCall<unknown, unknown>): string | undefined {
  const auth = authorizationOf(call);
  return auth && /^Basic\s/i.test(auth) ? auth : undefined;
}
