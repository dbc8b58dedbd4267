// The shape of an authz access token (RFC 9068), for the ceilings: the same
// protected header and claims, with realistic lengths (ids of the server's
// format: prefix + 22 base64url characters; kid an RFC 7638 thumbprint).
import { randomBytes } from "node:crypto";

const id = (prefix: string) => `${prefix}_${randomBytes(16).toString("base64url")}`;

export function accessTokenHeader(alg: string): Record<string, unknown> {
  return { alg, kid: randomBytes(32).toString("base64url"), typ: "at+jwt" };
}

export function accessTokenClaims(): Record<string, unknown> {
  const clientId = id("cl");
  const nowMs = Date.now();
  const iat = Math.floor(nowMs / 1000);
  return {
    iss: "http://127.0.0.1:41234",
    sub: clientId,
    aud: "https://api-17.bench.example.com",
    client_id: clientId,
    iat,
    exp: iat + 3600,
    jti: `${nowMs.toString(36)}.${randomBytes(16).toString("base64url")}`,
    scope: "orders:read orders:write",
  };
}

/** BASE64URL(header).BASE64URL(payload): the JWS signing input (RFC 7515 §5.1). */
export function signingInput(alg: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${b64(accessTokenHeader(alg))}.${b64(accessTokenClaims())}`;
}
