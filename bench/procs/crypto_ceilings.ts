// Ceiling process (pinned to one core by the harness): JWS sign and verify
// rates per algorithm.
// - node:crypto, synchronous, as the server signs (src/domain/keys.ts
//   makeSigner): crypto.sign over BASE64URL(header).BASE64URL(payload) of a
//   realistic RFC 9068 access token; ES256 with dsaEncoding "ieee-p1363"
//   (R || S, RFC 7518 §3.4), RS256 2048-bit, EdDSA Ed25519. Verify likewise
//   with crypto.verify (signature check only).
// - jose (SignJWT / jwtVerify, WebCrypto underneath), labelled as such.
// - optionally, SDK-style local verification against the server's JWKS
//   (jose createLocalJWKSet + jwtVerify with issuer/typ checks).
// Prints one JSON object: name -> operations per second.
import { createLocalJWKSet, generateKeyPair as joseKeyPair, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { accessTokenClaims, accessTokenHeader, signingInput } from "../lib/token_shape.js";

interface Args {
  durationMs: number;
  jwksFile?: string;
  tokensFile?: string;
  issuer?: string;
}
const { durationMs, jwksFile, tokensFile, issuer } = JSON.parse(process.argv[2]!) as Args;
/** With a JWKS and tokens: local verification only (the sign/verify figures come from an earlier call). */
const localOnly = Boolean(jwksFile && tokensFile);

function rateSync(fn: () => unknown): number {
  for (let i = 0; i < 200; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < durationMs) {
    for (let i = 0; i < 16; i++) fn();
    n += 16;
    now = performance.now();
  }
  return n / ((now - start) / 1000);
}

async function rateAsync(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    await fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

const ALGS = ["ES256", "RS256", "EdDSA"] as const;
type Alg = (typeof ALGS)[number];
const PARAMS: Record<Alg, { hash: string | null; keyOpts: { dsaEncoding?: "ieee-p1363" } }> = {
  ES256: { hash: "sha256", keyOpts: { dsaEncoding: "ieee-p1363" } },
  RS256: { hash: "sha256", keyOpts: {} },
  EdDSA: { hash: null, keyOpts: {} },
};
function nodeKeyPair(alg: Alg): { privateKey: KeyObject; publicKey: KeyObject } {
  if (alg === "ES256") return generateKeyPairSync("ec", { namedCurve: "P-256" });
  if (alg === "RS256") return generateKeyPairSync("rsa", { modulusLength: 2048 });
  return generateKeyPairSync("ed25519");
}

const results: Record<string, number> = {};
for (const alg of localOnly ? [] : ALGS) {
  const { privateKey, publicKey } = nodeKeyPair(alg);
  const { hash, keyOpts } = PARAMS[alg];
  const signKey = { key: privateKey, ...keyOpts };
  const verifyKey = { key: publicKey, ...keyOpts };
  // A fresh payload per token, as the server does (jti differs); the input is
  // built outside the measured call only for its fixed part.
  const inputs = Array.from({ length: 64 }, () => Buffer.from(signingInput(alg), "latin1"));
  let i = 0;
  results[`node_sign_${alg}`] = rateSync(() => sign(hash, inputs[i++ & 63]!, signKey).toString("base64url"));
  const signatures = inputs.map((input) => sign(hash, input, signKey));
  results[`node_verify_${alg}`] = rateSync(() => {
    const k = i++ & 63;
    if (!verify(hash, inputs[k]!, verifyKey, signatures[k]!)) throw new Error("verify failed");
  });
}

for (const alg of localOnly ? [] : ALGS) {
  const { privateKey, publicKey } = await joseKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
  const { alg: _a, ...header } = accessTokenHeader(alg);
  void _a;
  const sign = () => new SignJWT(accessTokenClaims()).setProtectedHeader({ ...header, alg }).sign(privateKey);
  results[`jose_sign_${alg}`] = await rateAsync(sign);
  const token = await sign();
  results[`jose_verify_${alg}`] = await rateAsync(() => jwtVerify(token, publicKey, { algorithms: [alg] }));
}

if (jwksFile && tokensFile) {
  const set = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, "utf8")) as JSONWebKeySet);
  const tokens = JSON.parse(readFileSync(tokensFile, "utf8")) as Record<string, string[]>;
  for (const [alg, list] of Object.entries(tokens)) {
    if (!list.length) continue;
    let i = 0;
    results[`jose_local_verify_${alg}`] = await rateAsync(() => jwtVerify(list[i++ % list.length]!, set, { issuer, algorithms: [alg], typ: "at+jwt" }));
  }
}
process.stdout.write(JSON.stringify(results));
