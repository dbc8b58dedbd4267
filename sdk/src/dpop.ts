/**
 * RFC 9449 (DPoP) proofs for clients: a key pair to bind tokens to, and a
 * fresh signed proof for each request.
 *
 * @module
 */
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

/** Proof algorithms authz accepts (asymmetric only, RFC 9449 §4.3 step 5). */
export type DpopAlgorithm = "ES256" | "EdDSA" | "RS256" | "PS256";

/** A DPoP key: the private key signs proofs; `publicJwk` goes in each proof's header. */
export interface DpopKey {
  privateKey: CryptoKey | KeyObject;
  /** Public members only; it is sent with every proof. */
  publicJwk: JWK;
  alg: DpopAlgorithm;
}

/** What a proof is for (RFC 9449 §4.2). */
export interface DpopProofClaims {
  /** The request's HTTP method. */
  htm: string;
  /** The request's URL; its query and fragment are dropped (RFC 9449 §4.2). */
  htu: string;
  /** When calling a resource server: the access token, hashed into `ath` (RFC 9449 §4.2, §7). */
  accessToken?: string;
  /** The server's latest `DPoP-Nonce` (RFC 9449 §8, §9). */
  nonce?: string;
  /** Clock, epoch ms; defaults to `Date.now`. */
  now?: () => number;
}

/** JWK members that describe a public key; anything else (notably `d`) stays out of `publicJwk`. */
const PUBLIC_JWK_MEMBERS = ["kty", "crv", "x", "y", "n", "e"] as const;

/**
 * Generates a DPoP key pair. The private key is not extractable; the public
 * JWK keeps only public members.
 */
export async function generateDpopKey(alg: DpopAlgorithm = "ES256"): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const exported = await exportJWK(publicKey);
  const publicJwk: JWK = {};
  for (const member of PUBLIC_JWK_MEMBERS) if (exported[member] !== undefined) publicJwk[member] = exported[member];
  return { privateKey, publicJwk, alg };
}

/** An ES256 DPoP key made synchronously with node:crypto (what `TokenSource({ dpop: true })` uses). */
export function generateEs256DpopKeySync(): DpopKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const exported = publicKey.export({ format: "jwk" }) as JWK;
  const publicJwk: JWK = {};
  for (const member of PUBLIC_JWK_MEMBERS) if (exported[member] !== undefined) publicJwk[member] = exported[member];
  return { privateKey, publicJwk, alg: "ES256" };
}

/** Creates a DPoP proof JWT (RFC 9449 §4.2) for one request; make a new one for every request. */
export async function createDpopProof(key: DpopKey, claims: DpopProofClaims): Promise<string> {
  const now = claims.now ?? Date.now;
  const payload: Record<string, string> = {
    // RFC 9449 §4.2: a unique identifier; 16 random bytes make collisions negligible.
    jti: randomBytes(16).toString("base64url"),
    htm: claims.htm,
    htu: withoutQueryAndFragment(claims.htu),
  };
  if (claims.accessToken !== undefined) payload.ath = createHash("sha256").update(claims.accessToken, "ascii").digest("base64url");
  if (claims.nonce !== undefined) payload.nonce = claims.nonce;
  return new SignJWT(payload)
    .setProtectedHeader({ typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk })
    .setIssuedAt(Math.floor(now() / 1000))
    .sign(key.privateKey);
}

/** RFC 9449 §4.2: `htu` is the target URI "without query and fragment parts". */
function withoutQueryAndFragment(htu: string): string {
  const url = new URL(htu);
  url.search = "";
  url.hash = "";
  return url.href;
}
