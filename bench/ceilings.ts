// Ceilings on one core, in their own process: raw jose sign and verify per
// algorithm (what issuance and introspection could reach if everything else
// were free), and SDK-style local verification against a cached JWKS (what a
// resource server gets without a network hop).
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const { durationMs, jwksFile, tokensFile, issuer } = JSON.parse(process.argv[2]!) as { durationMs: number; jwksFile?: string; tokensFile?: string; issuer?: string };

async function rate(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(); // warm up
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    await fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

const results: Record<string, number> = {};
for (const alg of ["ES256", "RS256", "EdDSA"] as const) {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
  const claims = { iss: "https://auth.example.com", sub: "cl_x", aud: "https://api.example.com", client_id: "cl_x", scope: "orders:read orders:write" };
  const sign = () => new SignJWT({ ...claims, jti: String(Math.random()) }).setProtectedHeader({ alg, kid: "k", typ: "at+jwt" }).setIssuedAt().setExpirationTime("1h").sign(privateKey);
  results[`sign_${alg}`] = await rate(sign);
  const token = await sign();
  results[`verify_${alg}`] = await rate(() => jwtVerify(token, publicKey, { algorithms: [alg] }));
  void exportJWK;
}

if (jwksFile && tokensFile) {
  const jwks = JSON.parse(readFileSync(jwksFile, "utf8")) as JSONWebKeySet;
  const tokens = JSON.parse(readFileSync(tokensFile, "utf8")) as { ES256: string[]; RS256: string[] };
  const set = createLocalJWKSet(jwks);
  for (const alg of ["ES256", "RS256"] as const) {
    let i = 0;
    const list = tokens[alg];
    results[`local_verify_${alg}`] = await rate(() => jwtVerify(list[i++ % list.length]!, set, { issuer, algorithms: [alg], typ: "at+jwt" }));
  }
}
process.stdout.write(JSON.stringify(results));
