import type { AuthenticatedClient } from "../client_auth.js";
import type { OAuthDeps } from "../ports.js";
import type { TokenRequest } from "../token_request.js";

/** RFC 6749 §5.1 successful token response. */
export interface TokenResponseBody {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  scope?: string;
  refresh_token?: string;
}

export interface GrantContext {
  request: TokenRequest;
  client: AuthenticatedClient;
  deps: OAuthDeps;
}

/** A grant type handler (one module per grant type). */
export interface GrantType {
  grantType: string;
  handle(ctx: GrantContext): Promise<TokenResponseBody>;
}
