// Sender-constrained access tokens: RFC 8705 §3 (bound to the client's TLS
// certificate) and RFC 9449 (bound to a DPoP key), decided per token request.
import type { ApiServer } from "../domain/api_servers.js";
import type { ClientCertificate } from "../pipeline/context.js";
import type { AuthenticatedClient } from "./client_auth.js";
import { DpopError, verifyDpopProof, type DpopReplay } from "./dpop.js";
import { InvalidDpopProof, InvalidRequest, UseDpopNonce } from "./errors.js";
import { certificateThumbprint } from "./mtls/certificates.js";
import type { OAuthDeps } from "./ports.js";

/** RFC 7800 §3.1 `cnf` of a bound token: `x5t#S256` (RFC 8705 §3.1) and/or `jkt` (RFC 9449 §6.1). */
export interface Confirmation {
  "x5t#S256"?: string;
  jkt?: string;
}

/** The token endpoint's URL, a DPoP proof's `htu` (RFC 9449 §4.3 step 9): the issuer's, as clients are told by metadata. */
export function tokenEndpointUrl(issuer: string): string {
  return `${issuer}/oauth/token`;
}

/**
 * The DPoP key of a token request (RFC 9449 §5): the proof's thumbprint when
 * it carries one that passes every check (htm POST, htu the token endpoint,
 * iat within the window, jti unused on every replica), undefined when it
 * carries none. A client registered dpop_bound_access_tokens (§5.2) must send one.
 */
export async function dpopKey(proof: string | undefined, client: AuthenticatedClient, deps: Pick<OAuthDeps, "issuer" | "now" | "dpop">): Promise<string | undefined> {
  if (proof === undefined) {
    if (client.dpopBoundTokens) throw new InvalidDpopProof("client requires DPoP; no proof", "this client must send a DPoP proof");
    return undefined;
  }
  try {
    const { jkt } = await verifyDpopProof(proof, {
      htm: "POST",
      htu: tokenEndpointUrl(deps.issuer),
      nowMs: deps.now(),
      iatWindowSeconds: deps.dpop.windowSeconds,
      nonce: deps.dpop.nonce,
      replay: dpopReplay(deps),
    });
    return jkt;
  } catch (err) {
    if (err instanceof DpopError && err.code === "use_dpop_nonce" && err.nonce) throw new UseDpopNonce(err.nonce, err.message);
    if (err instanceof DpopError) throw new InvalidDpopProof(err.message, err.message);
    throw err;
  }
}

/** One store row per (key, jti) until the proof can no longer be accepted: single use across replicas. */
export function dpopReplay(deps: Pick<OAuthDeps, "dpop">): DpopReplay {
  return { consume: (key, jti, expiresAt) => deps.dpop.consumeJti(key, jti, Math.ceil(expiresAt / 1000)) };
}

/** Whether a request presents what `cnf` binds to: the same DPoP key (its proof's thumbprint) and the same TLS client certificate. */
export function presentsBinding(cnf: Confirmation, certificate: ClientCertificate | undefined, jkt: string | undefined): boolean {
  if (cnf.jkt !== undefined && cnf.jkt !== jkt) return false;
  return cnf["x5t#S256"] === undefined || (certificate !== undefined && certificateThumbprint(certificate.der) === cnf["x5t#S256"]);
}

/**
 * What a token for `apiServer` is bound to. Certificate: when the client
 * registered tls_client_certificate_bound_access_tokens (RFC 8705 §3.4) or the
 * API server requires MTLS, the request's TLS client certificate (none:
 * refused). DPoP: whenever the request proved a key; required when the API
 * server requires DPOP. Undefined: a plain bearer token.
 */
export function confirmationFor(client: AuthenticatedClient, apiServer: ApiServer, certificate: ClientCertificate | undefined, jkt: string | undefined): Confirmation | undefined {
  const cnf: Confirmation = {};
  if (client.certificateBoundTokens || apiServer.senderConstraint === "mtls") {
    if (!certificate) throw new InvalidRequest("certificate-bound token without a client certificate", "tokens for this client or API server are bound to a TLS client certificate; connect with one");
    cnf["x5t#S256"] = certificateThumbprint(certificate.der);
  }
  if (apiServer.senderConstraint === "dpop" && jkt === undefined) throw new InvalidDpopProof("API server requires DPoP; no proof", "tokens for this API server are DPoP-bound; send a DPoP proof");
  if (jkt !== undefined) cnf.jkt = jkt;
  return cnf["x5t#S256"] === undefined && cnf.jkt === undefined ? undefined : cnf;
}
