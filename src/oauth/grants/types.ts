import type { ApiServer } from "../../domain/api_servers.js";
import type { AuthenticatedClient } from "../client_auth.js";
import type { Confirmation } from "../sender_constraint.js";
import type { OAuthDeps } from "../ports.js";
import type { TokenRequest } from "../token_request.js";
import type { Context } from "../../tracing.js";

/** RFC 6749 §5.1 successful token response. */
export interface TokenResponseBody {
  access_token: string;
  /** RFC 9449 §5: `DPoP` for a DPoP-bound token; certificate-bound tokens stay `Bearer` (RFC 8705 §3). */
  token_type: "Bearer" | "DPoP";
  expires_in: number;
  scope?: string;
  refresh_token?: string;
}

export interface GrantContext {
  request: TokenRequest;
  client: AuthenticatedClient;
  deps: OAuthDeps;
  /** What the token for this API server is bound to (src/oauth/sender_constraint.ts); throws when the request cannot meet its binding. */
  confirm(apiServer: ApiServer): Confirmation | undefined;
  /** Whether this request presents what `cnf` binds to (src/oauth/sender_constraint.ts presentsBinding). */
  presents(cnf: Confirmation): boolean;
  /** The grant step's trace context: the parent of its spans and store calls (src/tracing.ts). */
  trace: Context;
}

/** A grant type handler (one module per grant type). */
export interface GrantType {
  grantType: string;
  handle(ctx: GrantContext): Promise<TokenResponseBody>;
}
