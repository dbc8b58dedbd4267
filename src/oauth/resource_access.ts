// The management API as a resource server of its own tokens: an active
// management token, presented as its binding requires (RFC 9449 §7, RFC 8705 §3).
import { MANAGEMENT_AUDIENCE } from "../domain/constants.js";
import type { Principal } from "../pipeline/context.js";
import { Unauthenticated, type TokenPresentation } from "../pipeline/access.js";
import { activeAccessToken } from "./active_token.js";
import { DPOP_ALGS, DpopError, verifyDpopProof } from "./dpop.js";
import type { OAuthDeps } from "./ports.js";
import { dpopReplay, presentsBinding, type Confirmation } from "./sender_constraint.js";

const INVALID_TOKEN = 'Bearer realm="authz", error="invalid_token"';
const INVALID_PROOF = `DPoP realm="authz", error="invalid_dpop_proof", algs="${DPOP_ALGS.join(" ")}"`;

/**
 * The caller of a management RPC: undefined when the token is not an active
 * management token; Unauthenticated when it is one presented without what
 * binds it, which a thief holding only the token lacks.
 */
export async function managementPrincipal(token: string, presented: TokenPresentation, deps: OAuthDeps): Promise<Principal | undefined> {
  const found = await activeAccessToken(token, deps);
  if (!found || found.apiServer.identifier !== MANAGEMENT_AUDIENCE) return undefined;
  await checkBinding(found.claims.cnf as Confirmation | undefined, token, presented, deps);
  return { clientId: found.client.clientId, scopes: found.scopes };
}

/**
 * RFC 9449 §7.1: a DPoP-bound token only with the DPoP scheme and a proof
 * of its key for this very request (htm, htu: the issuer's origin and the
 * request's path, as the SDK's proofs have it; ath; a jti used once on every
 * replica); §7.2: the DPoP scheme only with a DPoP-bound token. RFC 8705
 * §3: a certificate-bound token only over a connection with that certificate.
 */
async function checkBinding(cnf: Confirmation | undefined, token: string, presented: TokenPresentation, deps: OAuthDeps): Promise<void> {
  if (cnf?.jkt === undefined) {
    if (presented.scheme === "dpop") throw new Unauthenticated("the DPoP scheme needs a DPoP-bound token; this one is a bearer token", INVALID_TOKEN);
  } else {
    if (presented.scheme !== "dpop") throw new Unauthenticated("a DPoP-bound token must be sent with the DPoP scheme and a proof", INVALID_PROOF);
    try {
      const { jkt } = await verifyDpopProof(presented.proof, {
        htm: presented.htm,
        htu: `${deps.issuer}${presented.path}`,
        nowMs: deps.now(),
        iatWindowSeconds: deps.dpop.windowSeconds,
        accessToken: token,
        replay: dpopReplay(deps),
      });
      if (jkt !== cnf.jkt) throw new DpopError("invalid_dpop_proof", "DPoP proof key is not the token's");
    } catch (err) {
      if (err instanceof DpopError) throw new Unauthenticated(err.message, INVALID_PROOF);
      throw err;
    }
  }
  // The DPoP key matched above; what is left to present is the certificate.
  if (cnf && !presentsBinding(cnf, presented.certificate, cnf.jkt)) {
    throw new Unauthenticated("a certificate-bound token must come over a connection with its certificate", INVALID_TOKEN);
  }
}
