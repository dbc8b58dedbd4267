// RFC 6749 §3.2 token endpoint as small named steps.
import { authenticateClient, type AuthenticatedClient } from "./client_auth.js";
import { UnauthorizedClient, UnsupportedGrantType } from "./errors.js";
import { grantTypes } from "./grants/index.js";
import type { GrantType, TokenResponseBody } from "./grants/types.js";
import { required, type Params } from "./params.js";
import type { OAuthDeps } from "./ports.js";
import { toSeconds } from "../clock.js";

export interface TokenRequest {
  params: Params;
  /** The HTTP Authorization header (Basic client credentials), if any. */
  authorization?: string;
  /** Typed gRPC call (see ClientCredentialsInput.typed). */
  typed?: boolean;
}

export async function handleTokenRequest(request: TokenRequest, deps: OAuthDeps): Promise<TokenResponseBody> {
  const grant = checkGrantTypeSupported(request.params);
  const client = await authenticateClient(request, deps.clients, assertionContext(deps));
  checkGrantTypeAllowedForClient(client, grant);
  return grant.handle({ params: request.params, client, deps });
}

function checkGrantTypeSupported(params: Params): GrantType {
  const grant = grantTypes.get(required(params, "grant_type"));
  if (!grant) throw new UnsupportedGrantType();
  return grant;
}

function checkGrantTypeAllowedForClient(client: AuthenticatedClient, grant: GrantType): void {
  if (!client.grantTypes.includes(grant.grantType)) throw new UnauthorizedClient(`client may not use ${grant.grantType}`);
}

/** RFC 7523 §3: an assertion's `aud` is the token endpoint or the issuer. */
export function assertionContext(deps: OAuthDeps) {
  return { audiences: [deps.issuer, `${deps.issuer}/oauth/token`], nowSeconds: toSeconds(deps.now()) };
}
