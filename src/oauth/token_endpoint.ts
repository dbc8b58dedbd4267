// RFC 6749 §3.2 token endpoint as small named steps.
import { toSeconds } from "../clock.js";
import { authenticateClient, type AuthenticatedClient, type ClientAuthContext } from "./client_auth.js";
import { UnauthorizedClient, UnsupportedGrantType } from "./errors.js";
import { grantTypes } from "./grants/index.js";
import type { GrantType, TokenResponseBody } from "./grants/types.js";
import type { OAuthDeps } from "./ports.js";
import type { TokenRequest } from "./token_request.js";

export async function issueToken(request: TokenRequest, deps: OAuthDeps): Promise<TokenResponseBody> {
  const grant = checkGrantTypeSupported(request.grantType);
  const client = await authenticateClient(request.credential, deps.clients, assertionContext(deps));
  checkGrantTypeAllowedForClient(client, grant);
  return grant.handle({ request, client, deps });
}

function checkGrantTypeSupported(grantType: string): GrantType {
  const grant = grantTypes.get(grantType);
  if (!grant) throw new UnsupportedGrantType();
  return grant;
}

function checkGrantTypeAllowedForClient(client: AuthenticatedClient, grant: GrantType): void {
  if (!client.grantTypes.includes(grant.grantType)) throw new UnauthorizedClient(`client may not use ${grant.grantType}`);
}

/** RFC 7523 §3: an assertion's `aud` is the token endpoint or the issuer. */
export function assertionContext(deps: OAuthDeps): ClientAuthContext {
  return { audiences: [deps.issuer, `${deps.issuer}/oauth/token`], nowSeconds: toSeconds(deps.now()), clockToleranceSeconds: deps.assertionClockToleranceSeconds };
}
