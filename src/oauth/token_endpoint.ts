// RFC 6749 §3.2 token endpoint as small named steps.
import { toSeconds } from "../clock.js";
import type { ApiServer } from "../domain/api_servers.js";
import { confirmationFor, dpopKey, presentsBinding, tokenEndpointUrl, type Confirmation } from "./sender_constraint.js";
import { ResourceExhausted } from "../errors.js";
import { inSpan, underTrace, type Context } from "../tracing.js";
import { authenticateClient, type AuthenticatedClient, type ClientAuthContext } from "./client_auth.js";
import { UnauthorizedClient, UnsupportedGrantType } from "./errors.js";
import { grantTypes } from "./grants/index.js";
import type { GrantType, TokenResponseBody } from "./grants/types.js";
import type { OAuthDeps } from "./ports.js";
import type { TokenRequest } from "./token_request.js";

export async function issueToken(request: TokenRequest, deps: OAuthDeps): Promise<TokenResponseBody> {
  const grant = checkGrantTypeSupported(request.grantType);
  const client = await authenticateClient(request.credential, deps.clients, assertionContext(deps, request.source, request.trace));
  checkGrantTypeAllowedForClient(client, grant);
  checkClientRate(client, deps);
  const jkt = await underTrace(request.trace, () => dpopKey(request.dpopProof, client, deps));
  const confirm = (apiServer: ApiServer) => confirmationFor(client, apiServer, request.certificate, jkt);
  const presents = (cnf: Confirmation) => presentsBinding(cnf, request.certificate, jkt);
  return inSpan(request.trace, `oauth.grant ${grant.grantType}`, (_, trace) => grant.handle({ request, client, deps, confirm, presents, trace }));
}

function checkGrantTypeSupported(grantType: string): GrantType {
  const grant = grantTypes.get(grantType);
  if (!grant) throw new UnsupportedGrantType();
  return grant;
}

function checkGrantTypeAllowedForClient(client: AuthenticatedClient, grant: GrantType): void {
  if (!client.grantTypes.includes(grant.grantType)) throw new UnauthorizedClient(`client may not use ${grant.grantType}`);
}

/** The client's token-endpoint rate (its own from metadata, or the default), once it has authenticated: keyed by real clients only. */
function checkClientRate(client: AuthenticatedClient, deps: OAuthDeps): void {
  const wait = deps.guard?.tokenWait(client) ?? 0;
  if (wait > 0) throw new ResourceExhausted("too many token requests for this client; retry later", wait, "token_rate");
}

/** RFC 7523 §3: an assertion's `aud` is the token endpoint or the issuer. `source` is the caller's address (throttling), `trace` its trace context. */
export function assertionContext(deps: OAuthDeps, source = "", trace?: Context): ClientAuthContext {
  return { audiences: [deps.issuer, tokenEndpointUrl(deps.issuer)], nowSeconds: toSeconds(deps.now()), clockToleranceSeconds: deps.assertionClockToleranceSeconds, source, guard: deps.guard, trustAnchors: deps.clientCa, trace };
}
