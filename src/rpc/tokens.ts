import { TokenServiceService, type ClientAuthentication, type TokenServiceServer } from "../../gen/authz/v1/token.js";
import { presentedCredential, type CredentialFields } from "../oauth/credentials.js";
import { NO_STORE } from "../oauth/http.js";
import { introspect, introspectionCaller } from "../oauth/introspection.js";
import type { OAuthDeps } from "../oauth/ports.js";
import { revoke } from "../oauth/revocation.js";
import { issueToken } from "../oauth/token_endpoint.js";
import type { CallContext } from "../pipeline/context.js";
import { TRANSCODED_HEADER } from "../pipeline/observer.js";
import { InvalidRequest } from "../oauth/errors.js";
import { bindService } from "./service.js";

/**
 * Typed token operations for internal callers: the same rules as the HTTP
 * endpoints, from a typed request and a typed presented credential; OAuth
 * errors become gRPC statuses by the error table (src/errors.ts), with a
 * google.rpc.ErrorInfo whose reason is the RFC error code.
 */
export function tokenService(deps: OAuthDeps) {
  return bindService<TokenServiceServer>(TokenServiceService, {
    issueToken: async (req, ctx) => {
      refuseSecretsInUrl(ctx);
      const body = await issueToken(
        {
          grantType: req.grantType || "client_credentials",
          credential: presentedCredential(authorization(ctx), fields(req.client), ctx.clientCertificate),
          audience: req.audience || undefined,
          resource: req.resource || undefined,
          scope: req.scope || undefined,
          refreshToken: req.refreshToken || undefined,
          source: ctx.peer,
          trace: ctx.traceContext,
          certificate: ctx.clientCertificate,
          // A DPoP proof in the `dpop` metadata key, for the token endpoint's URL and POST (RFC 9449 §4.3 has no gRPC binding).
          dpopProof: ctx.requestHeaders.get("dpop"),
        },
        deps,
      );
      noStore(ctx);
      return { accessToken: body.access_token, tokenType: body.token_type, expiresIn: body.expires_in, scope: body.scope ?? "", refreshToken: body.refresh_token ?? "" };
    },
    introspectToken: async (req, ctx) => {
      refuseSecretsInUrl(ctx);
      const f = fields(req.client);
      const caller = introspectionCaller(authorization(ctx), () => presentedCredential(authorization(ctx), f), Boolean(f.clientSecret || f.clientAssertion));
      const body = await introspect({ caller, token: req.token, tokenTypeHint: req.tokenTypeHint || undefined, source: ctx.peer, trace: ctx.traceContext }, deps);
      noStore(ctx);
      return {
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
        cnf: body.cnf ? { x5tS256: body.cnf["x5t#S256"] ?? "", jkt: body.cnf.jkt ?? "" } : undefined,
      };
    },
    revokeToken: async (req, ctx) => {
      refuseSecretsInUrl(ctx);
      await revoke({ credential: presentedCredential(authorization(ctx), fields(req.client)), token: req.token, tokenTypeHint: req.tokenTypeHint || undefined, source: ctx.peer, trace: ctx.traceContext }, deps);
      return {};
    },
  });
}

/** Fields of these requests that are secrets (snake and lowerCamel, as the query may name them). */
const SECRET_FIELDS = new Set(["client.client_secret", "client.clientSecret", "client.client_assertion", "client.clientAssertion", "token", "refresh_token", "refreshToken"]);

/**
 * RFC 6749 §2.3.1 and RFC 6750 §2.3 (credentials and tokens never in the
 * request URI: proxies and access logs keep it): a transcoded call whose
 * query names a secret field is refused, however the gateway bound it.
 */
function refuseSecretsInUrl(ctx: CallContext): void {
  const path = ctx.requestHeaders.get(TRANSCODED_HEADER);
  const q = path?.indexOf("?") ?? -1;
  if (q < 0) return;
  for (const name of new URLSearchParams(path!.slice(q + 1)).keys()) {
    if (SECRET_FIELDS.has(name)) throw new InvalidRequest("secret in the URL", `${name} must be sent in the request body, never in the URL`);
  }
}

function fields(client: ClientAuthentication | undefined): CredentialFields {
  return { clientId: client?.clientId, clientSecret: client?.clientSecret, clientAssertionType: client?.clientAssertionType, clientAssertion: client?.clientAssertion };
}

function authorization(ctx: CallContext): string | undefined {
  return ctx.requestHeaders.get("authorization");
}

/** RFC 6749 §5.1 / RFC 7662 §2.2: token and introspection answers must not be cached, also over /v1/tokens:*. */
function noStore(ctx: CallContext): void {
  Object.assign(ctx.responseHeaders, NO_STORE);
}
