import type { X509Certificate } from "node:crypto";
import type { JWK } from "jose";
import { validAt } from "./certificates.js";

// ---------------------------------------------------------------------------
// self_signed_tls_client_auth (RFC 8705 §2.2)
// ---------------------------------------------------------------------------

/** The public-key members that identify a key, by `kty` (RFC 7518 §6, RFC 8037 §2). */
const KEY_MEMBERS: Record<string, readonly string[]> = { EC: ["crv", "x", "y"], RSA: ["n", "e"], OKP: ["crv", "x"] };
/** Members compared as unsigned big-endian integers (a leading zero octet is tolerated). */
const INTEGER_MEMBERS = new Set(["n", "e"]);
/** A registered JWK Set is small; a larger one is not looked through. */
const MAX_JWKS_KEYS = 100;

function b64urlBytes(s: unknown): Buffer | undefined {
  return typeof s === "string" && /^[A-Za-z0-9_-]*$/.test(s) ? Buffer.from(s, "base64url") : undefined;
}

function stripLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** The JWK's public key is the certificate's (kty and each identifying member equal). */
function sameKey(certJwk: Record<string, unknown>, jwk: JWK): boolean {
  const kty = certJwk.kty;
  if (typeof kty !== "string" || jwk.kty !== kty) return false;
  const members = KEY_MEMBERS[kty];
  if (!members) return false;
  const record = jwk as Record<string, unknown>;
  return members.every((m) => {
    if (m === "crv") return typeof record.crv === "string" && record.crv === certJwk.crv;
    let a = b64urlBytes(certJwk[m]);
    let b = b64urlBytes(record[m]);
    if (!a || !b || b.length === 0) return false;
    if (INTEGER_MEMBERS.has(m)) {
      a = stripLeadingZeros(a);
      b = stripLeadingZeros(b);
    }
    return a.equals(b);
  });
}

/**
 * RFC 8705 §2.2 `self_signed_tls_client_auth`: the client registered its
 * certificate(s) in its JWKS, and the presented certificate authenticates it
 * when a JWK there either carries the same certificate as `x5c[0]` (RFC 7517
 * §4.7, base64 DER) or has the certificate's public key (EC, RSA, OKP members
 * compared). No chain is built — §2.2: the certificate is not validated
 * against a PKI, it is trusted because it was registered — but it must be
 * within its validity period at `nowMs`. `use`/`key_ops` are not consulted.
 * Async so that a caller may later resolve a `jwks_uri` behind the same call.
 */
export async function certificateInJwks(cert: X509Certificate, jwks: { keys: JWK[] }, nowMs: number = Date.now()): Promise<boolean> {
  if (!validAt(cert, nowMs)) return false;
  const keys = Array.isArray(jwks?.keys) ? jwks.keys : [];
  if (keys.length > MAX_JWKS_KEYS) return false;
  let certJwk: Record<string, unknown> | undefined;
  try {
    certJwk = cert.publicKey.export({ format: "jwk" }) as Record<string, unknown>;
  } catch {
    certJwk = undefined; // a key type JWK cannot express; only x5c can match
  }
  for (const jwk of keys) {
    if (typeof jwk !== "object" || jwk === null) continue;
    const first = Array.isArray(jwk.x5c) ? jwk.x5c[0] : undefined;
    if (typeof first === "string" && /^[A-Za-z0-9+/]+={0,2}$/.test(first) && Buffer.from(first, "base64").equals(cert.raw)) return true;
    if (certJwk && sameKey(certJwk, jwk)) return true;
  }
  return false;
}
