// RFC 7009 OAuth 2.0 Token Revocation.
import type { Context } from "../tracing.js";
import { toSeconds } from "../clock.js";
import { sha256 } from "../domain/ids.js";
import { REFRESH_TOKEN_PREFIX } from "./access_token.js";
import { authenticateClient } from "./client_auth.js";
import type { PresentedCredential } from "./credentials.js";
import { InvalidRequest, UnsupportedTokenType } from "./errors.js";
import type { OAuthDeps } from "./ports.js";
import { assertionContext } from "./token_endpoint.js";

const HINTS = new Set(["access_token", "refresh_token"]);

export interface RevocationRequest {
  credential: PresentedCredential;
  token: string;
  tokenTypeHint: string | undefined;
  /** The caller's address (CallContext.peer), for throttling only. */
  source?: string;
  /** The call's trace context (CallContext.traceContext): the parent of the step spans; none: not traced. */
  trace?: Context;
}

/**
 * Revokes a token issued to the authenticated client. §2.2: the answer is 200
 * for unknown or invalid tokens; a token of another client is treated the same
 * way (a no-op), so the endpoint is no oracle for other clients' tokens.
 * Access tokens are revoked by `jti` until they expire; refresh tokens revoke
 * their whole rotation family.
 */
export async function revoke(request: RevocationRequest, deps: OAuthDeps): Promise<void> {
  const client = await authenticateClient(request.credential, deps.clients, assertionContext(deps, request.source, request.trace));
  const { token, tokenTypeHint: hint } = request;
  if (!token) throw new InvalidRequest("missing token", "missing required parameter token");
  if (hint !== undefined && !HINTS.has(hint)) throw new UnsupportedTokenType(`hint ${hint.slice(0, 40)}`);

  if (token.startsWith(REFRESH_TOKEN_PREFIX)) {
    const record = await deps.refreshTokens.find(sha256(token));
    if (record && record.clientId === client.clientId) await deps.refreshTokens.revokeFamily(record.familyId);
    return;
  }
  let claims: Record<string, unknown>;
  try {
    claims = await deps.tokens.verify(token);
  } catch {
    return;
  }
  const { jti, exp, client_id: owner, aud } = claims;
  if (owner !== client.clientId || typeof jti !== "string" || typeof exp !== "number") return;
  if (exp > toSeconds(deps.now())) await deps.revocations.revoke(jti, exp, { clientId: owner, audience: typeof aud === "string" ? aud : "" });
}
