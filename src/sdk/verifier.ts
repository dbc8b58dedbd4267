import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";

export interface VerifierOptions {
  /** authz's issuer, e.g. https://auth.example.com. */
  issuer: string;
  /** This resource server's identifier (the expected `aud`). */
  audience: string;
  /** JWKS URL; defaults to `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Accepted algorithms; pin to your API server's signing_alg. */
  algorithms?: Array<"ES256" | "RS256" | "EdDSA">;
}

export interface AccessToken extends JWTPayload {
  client_id: string;
  scope?: string;
  permissions?: string[];
}

/**
 * Local verification of authz access tokens for resource servers: RFC 9068 §4
 * checks (typ at+jwt, iss, aud, exp, signature with a pinned algorithm) against
 * a cached JWKS. No network hop per request; the JWKS is refetched on an
 * unknown kid (key rotation publishes keys before they sign).
 * Local verification cannot see revocation; use IntrospectToken where that matters.
 */
export function createVerifier(options: VerifierOptions) {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${options.issuer}/.well-known/jwks.json`));
  const algorithms = options.algorithms ?? ["ES256"];
  return async function verify(token: string): Promise<AccessToken> {
    const { payload } = await jwtVerify(token, jwks, { issuer: options.issuer, audience: options.audience, algorithms, typ: "at+jwt", requiredClaims: ["exp", "iat", "client_id", "jti"] });
    return payload as AccessToken;
  };
}
