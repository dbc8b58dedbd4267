import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { calculateJwkThumbprint, type JWK } from "jose";
import type { SigningAlg } from "../domain/api_servers.js";
import { JWS_ALG_PARAMS } from "./jws.js";

/**
 * The cryptographic pieces of signing keys, kept apart from their life cycle
 * (keys.ts): sealing private keys at rest, deriving identities, and the fixed
 * per-algorithm parameters of a JWS signature.
 *
 * Sealed format: iv (12 bytes) | GCM tag (16) | AES-256-GCM ciphertext of the
 * private JWK (JSON). The kid is the additional authenticated data, so a
 * sealed private key copied onto another row (another kid) does not open
 * (NIST SP 800-38D §5.2.1.1: AAD is authenticated, not encrypted).
 */

const IV_BYTES = 12; // a random 96-bit IV per sealing (SP 800-38D §8.2.2); a KEK seals a handful of keys, far below the 2^32 limit of §8.3
const TAG_BYTES = 16;
export const KEK_BYTES = 32; // AES-256

export function seal(plaintext: Buffer, kek: Buffer, kid: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", kek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(kid, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
}

/** Throws when the KEK is wrong, the blob was altered, or it belongs to another kid. */
export function open(sealed: Buffer, kek: Buffer, kid: string): Buffer {
  if (sealed.length <= IV_BYTES + TAG_BYTES) throw new Error("sealed key too short");
  const decipher = createDecipheriv("aes-256-gcm", kek, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(kid, "utf8"));
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

/** Key type each algorithm needs (RFC 7518 §3.3-3.4, RFC 8037 §3.1); RSA keys of at least 2048 bits (§3.3). */
const KEY_TYPE: Record<SigningAlg, (jwk: JWK) => boolean> = {
  ES256: (k) => k.kty === "EC" && k.crv === "P-256",
  RS256: (k) => k.kty === "RSA" && Buffer.from(k.n ?? "", "base64url").length >= 256,
  EdDSA: (k) => k.kty === "OKP" && k.crv === "Ed25519",
};

/** The public members of a key in canonical JWK form (no kid/alg/use yet). */
export function publicJwkOf(privateKey: KeyObject): JWK {
  return createPublicKey(privateKey).export({ format: "jwk" }) as JWK;
}

/** RFC 7638 thumbprint (SHA-256) of the public key: the kid. */
export function thumbprint(publicJwk: JWK): Promise<string> {
  return calculateJwkThumbprint(publicJwk, "sha256");
}

/**
 * Opens a sealed private key and checks that it is the key its row claims:
 * its public half hashes to `kid` and its type fits `alg`. With the kid as
 * AAD, this means nobody without the KEK can slip a key of their own into the
 * table (for example by rewriting `public_jwk`): identities come from the
 * sealed part only.
 */
export async function openPrivateKey(sealed: Buffer, kek: Buffer, kid: string, alg: SigningAlg): Promise<{ privateKey: KeyObject; publicJwk: JWK }> {
  let plaintext: Buffer;
  try {
    plaintext = open(sealed, kek, kid);
  } catch {
    throw new WrongKek(kid);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: JSON.parse(plaintext.toString("utf8")) as never, format: "jwk" });
  } finally {
    plaintext.fill(0); // the decrypted JWK is not left lying in a pooled buffer
  }
  const publicJwk = publicJwkOf(privateKey);
  if (!KEY_TYPE[alg](publicJwk)) throw new Error(`signing key ${kid} is not an ${alg} key`);
  if ((await thumbprint(publicJwk)) !== kid) throw new Error(`signing key ${kid} does not match its kid`);
  return { privateKey, publicJwk };
}

/** node:crypto parameters of the algorithms tokens are signed with (src/tokens/jws.ts has the table). */
export const SIGN_PARAMS: Record<SigningAlg, { hash: string | null; dsaEncoding?: "ieee-p1363" }> = {
  ES256: JWS_ALG_PARAMS.ES256!,
  RS256: JWS_ALG_PARAMS.RS256!,
  EdDSA: JWS_ALG_PARAMS.EdDSA!,
};

const generateKeyPairAsync = promisify(generateKeyPair);

/** A fresh key pair for `alg` (off the event loop: RSA generation takes tens of ms). */
export async function generateSigningKey(alg: SigningAlg): Promise<{ privateKey: KeyObject; publicJwk: JWK; kid: string }> {
  const { privateKey } =
    alg === "ES256"
      ? await generateKeyPairAsync("ec", { namedCurve: "P-256" })
      : alg === "RS256"
        ? await generateKeyPairAsync("rsa", { modulusLength: 2048 })
        : await generateKeyPairAsync("ed25519");
  const publicJwk = publicJwkOf(privateKey);
  return { privateKey, publicJwk, kid: await thumbprint(publicJwk) };
}

/** The private JWK, sealed for storage under `kid`. */
export function sealPrivateKey(privateKey: KeyObject, kek: Buffer, kid: string): Buffer {
  const plaintext = Buffer.from(JSON.stringify(privateKey.export({ format: "jwk" })));
  try {
    return seal(plaintext, kek, kid);
  } finally {
    plaintext.fill(0);
  }
}

/** A sealed key did not open: another KEK sealed it, or the row was altered or moved to another kid. */
export class WrongKek extends Error {
  override name = "WrongKek";
  constructor(readonly kid: string) {
    super(`cannot decrypt signing key ${kid}`);
  }
}
