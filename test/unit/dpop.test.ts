import { createHash, generateKeyPairSync, sign, type KeyPairKeyObjectResult } from "node:crypto";
import { base64url, calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { beforeAll, describe, expect, test } from "vitest";
import { createDpopProof, generateDpopKey, type DpopAlgorithm, type DpopKey } from "../../sdk/src/dpop.js";
import { DPOP_ALGS, DpopError, dpopThumbprint, verifyDpopProof, type DpopCheck, type DpopReplay } from "../../src/oauth/dpop.js";

const NOW = 1_700_000_000_000;
const NOW_S = NOW / 1000;
const WINDOW = 60;
const HTU = "https://as.example.com/token";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZXJ2aWNlLWEifQ.c2lnbmF0dXJlLW9mLXRoZS1hY2Nlc3MtdG9rZW4";

/** An in-memory DpopReplay; `seen` maps "jkt jti" to the expiry it was given. */
function memoryReplay(): DpopReplay & { seen: Map<string, number> } {
  const seen = new Map<string, number>();
  return {
    seen,
    async consume(jkt, jti, expiresAt) {
      const key = `${jkt} ${jti}`;
      if (seen.has(key)) return false;
      seen.set(key, expiresAt);
      return true;
    },
  };
}

const check = (overrides: Partial<DpopCheck> = {}): DpopCheck => ({ htm: "POST", htu: HTU, nowMs: NOW, iatWindowSeconds: WINDOW, replay: memoryReplay(), ...overrides });

let key: DpopKey;
beforeAll(async () => {
  key = await generateDpopKey();
});

const proof = (claims: { htm?: string; htu?: string; accessToken?: string; nonce?: string; nowMs?: number } = {}, k: DpopKey = key) =>
  createDpopProof(k, { htm: claims.htm ?? "POST", htu: claims.htu ?? HTU, accessToken: claims.accessToken, nonce: claims.nonce, now: () => claims.nowMs ?? NOW });

/** A proof built by hand: any header, any payload, signed with any key. */
async function handmade(header: Record<string, unknown>, payload: JWTPayload, signingKey: CryptoKey | Uint8Array): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(signingKey);
}
const goodClaims = (): JWTPayload => ({ jti: crypto.randomUUID(), htm: "POST", htu: HTU, iat: NOW_S });

/**
 * Verifies, expects a DpopError with `code`, and checks the message echoes
 * neither the proof (nor any of its parts) nor the access token.
 */
async function refused(value: string | undefined, c: DpopCheck, code: DpopError["code"]): Promise<DpopError> {
  const err = await verifyDpopProof(value, c).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a refusal").toBeInstanceOf(DpopError);
  const dpopError = err as DpopError;
  expect(dpopError.code).toBe(code);
  expect(dpopError.message).toMatch(/^DPoP /);
  for (const part of [value ?? "", ...(value ?? "").split(/[.,\s]+/)].filter((p) => p.length >= 8)) expect(dpopError.message).not.toContain(part);
  expect(dpopError.message).not.toContain(TOKEN);
  return dpopError;
}

describe("DPoP proofs (RFC 9449 §4)", () => {
  test("a good proof from the SDK is accepted for every algorithm; jkt is the RFC 7638 thumbprint of the header jwk", async () => {
    expect(DPOP_ALGS).toEqual(["ES256", "EdDSA", "RS256", "PS256"]);
    for (const alg of DPOP_ALGS as DpopAlgorithm[]) {
      const k = await generateDpopKey(alg);
      expect(k.publicJwk, alg).not.toHaveProperty("d");
      const result = await verifyDpopProof(await proof({}, k), check());
      expect(result.jkt, alg).toBe(await calculateJwkThumbprint(k.publicJwk, "sha256"));
      expect(result.jkt, alg).toBe(await dpopThumbprint(k.publicJwk));
      expect(result.jwk, alg).toEqual(k.publicJwk);
    }
  });

  test("the SDK's proof has typ dpop+jwt, the public jwk, a 16-byte jti, iat from the clock, and an htu without query or fragment", async () => {
    const value = await proof({ htu: "https://as.example.com/token?x=1#frag", accessToken: TOKEN, nonce: "n1" });
    const h = decodeProtectedHeader(value);
    const p = decodeJwt(value);
    expect(h).toEqual({ typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk });
    expect(p).toMatchObject({ htm: "POST", htu: HTU, iat: NOW_S, nonce: "n1", ath: createHash("sha256").update(TOKEN).digest("base64url") });
    expect(base64url.decode(p.jti!)).toHaveLength(16);
  });

  test("a missing proof, garbage, or a malformed header is invalid_dpop_proof", async () => {
    await refused(undefined, check(), "invalid_dpop_proof");
    await refused("", check(), "invalid_dpop_proof");
    await refused("not-a-jwt", check(), "invalid_dpop_proof");
    await refused("e30.e30.", check(), "invalid_dpop_proof"); // {} header: no typ/alg
    await refused("bm90LWpzb24.e30.c2ln", check(), "invalid_dpop_proof");
  });

  test("a wrong htm is invalid_dpop_proof (methods are case-sensitive)", async () => {
    expect((await refused(await proof({ htm: "GET" }), check(), "invalid_dpop_proof")).message).toBe("DPoP proof htm does not match");
    await refused(await proof({ htm: "post" }), check(), "invalid_dpop_proof");
  });

  test("a wrong htu (path, host, scheme, port, userinfo) is invalid_dpop_proof", async () => {
    for (const htu of ["https://as.example.com/introspect", "https://other.example.com/token", "http://as.example.com/token", "https://as.example.com:8443/token", "https://u@as.example.com/token", "https://as.example.com/token/"]) {
      expect((await refused(await proof({ htu }), check(), "invalid_dpop_proof")).message, htu).toBe("DPoP proof htu does not match");
    }
    const notUrl = await handmade({ typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk }, { ...goodClaims(), htu: "/token" }, key.privateKey as CryptoKey);
    await refused(notUrl, check(), "invalid_dpop_proof");
  });

  test("htu is compared without query and fragment, and after RFC 3986 normalization (case, default port, percent-encoding)", async () => {
    // The server's URL carries a query and fragment.
    await verifyDpopProof(await proof(), check({ htu: `${HTU}?client=a#x` }));
    // A hand-made proof whose htu keeps a query and fragment (the SDK would strip them).
    const withQuery = await handmade({ typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk }, { ...goodClaims(), htu: `${HTU}?a=b#c` }, key.privateKey as CryptoKey);
    await verifyDpopProof(withQuery, check());
    for (const htu of ["HTTPS://AS.Example.COM/token", "https://as.example.com:443/token", "https://as.example.com/%74oken", "https://as.example.com/./token"]) {
      const value = await handmade({ typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk }, { ...goodClaims(), htu }, key.privateKey as CryptoKey);
      await expect(verifyDpopProof(value, check()), htu).resolves.toHaveProperty("jkt");
    }
    await verifyDpopProof(await proof({ htu: "http://rs.example.com:80/api" }), check({ htu: "http://RS.example.com/api" }));
    // The path itself stays case-sensitive.
    await refused(await proof({ htu: "https://as.example.com/Token" }), check(), "invalid_dpop_proof");
  });

  test("iat: accepted at ±window, refused beyond it in the past (stale) and in the future", async () => {
    await verifyDpopProof(await proof({ nowMs: NOW - WINDOW * 1000 }), check());
    await verifyDpopProof(await proof({ nowMs: NOW + WINDOW * 1000 }), check());
    expect((await refused(await proof({ nowMs: NOW - (WINDOW + 1) * 1000 }), check(), "invalid_dpop_proof")).message).toBe("DPoP proof iat is outside the accepted window");
    await refused(await proof({ nowMs: NOW + (WINDOW + 1) * 1000 }), check(), "invalid_dpop_proof");
    const noIat = { ...goodClaims() };
    delete noIat.iat;
    await refused(await handmade({ typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk }, noIat, key.privateKey as CryptoKey), check(), "invalid_dpop_proof");
  });

  test("a replayed jti is invalid_dpop_proof; the jti is remembered until iat + window", async () => {
    const replay = memoryReplay();
    const value = await proof({ nowMs: NOW - 10_000 });
    const { jkt } = await verifyDpopProof(value, check({ replay }));
    expect([...replay.seen.values()]).toEqual([NOW - 10_000 + WINDOW * 1000]);
    expect([...replay.seen.keys()][0]).toMatch(new RegExp(`^${jkt} `));
    expect((await refused(value, check({ replay }), "invalid_dpop_proof")).message).toBe("DPoP proof jti was already used");
    // A fresh proof from the same key is fine.
    await verifyDpopProof(await proof(), check({ replay }));
  });

  test("jti must be a string of 1..128 characters", async () => {
    const sign = (jti: unknown) => handmade({ typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk }, { ...goodClaims(), jti } as JWTPayload, key.privateKey as CryptoKey);
    await verifyDpopProof(await sign("j".repeat(128)), check());
    for (const jti of ["", "j".repeat(129), 7, undefined]) await refused(await sign(jti), check(), "invalid_dpop_proof");
  });

  test("alg none (an unsigned token) is invalid_dpop_proof", async () => {
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const unsigned = `${enc({ typ: "dpop+jwt", alg: "none", jwk: key.publicJwk })}.${enc(goodClaims())}.`;
    expect((await refused(unsigned, check(), "invalid_dpop_proof")).message).toBe("DPoP proof alg is not accepted");
  });

  test("HS256 is invalid_dpop_proof, with a symmetric or a public header jwk", async () => {
    const secret = new Uint8Array(32).fill(7);
    const withOct = await handmade({ typ: "dpop+jwt", alg: "HS256", jwk: { kty: "oct", k: base64url.encode(secret) } }, goodClaims(), secret);
    expect((await refused(withOct, check(), "invalid_dpop_proof")).message).toBe("DPoP proof alg is not accepted");
    const withPublic = await handmade({ typ: "dpop+jwt", alg: "HS256", jwk: key.publicJwk }, goodClaims(), secret);
    await refused(withPublic, check(), "invalid_dpop_proof");
  });

  test("typ missing or other than dpop+jwt is invalid_dpop_proof (application/dpop+jwt is the same media type)", async () => {
    const signed = (header: Record<string, unknown>) => handmade({ alg: key.alg, jwk: key.publicJwk, ...header }, goodClaims(), key.privateKey as CryptoKey);
    expect((await refused(await signed({}), check(), "invalid_dpop_proof")).message).toBe("DPoP proof typ is not dpop+jwt");
    for (const typ of ["JWT", "at+jwt", "dpop", 1]) await refused(await signed({ typ }), check(), "invalid_dpop_proof");
    await verifyDpopProof(await signed({ typ: "application/dpop+jwt" }), check());
  });

  test("a missing or malformed header jwk is invalid_dpop_proof", async () => {
    const signed = (header: Record<string, unknown>) => handmade({ typ: "dpop+jwt", alg: key.alg, ...header }, goodClaims(), key.privateKey as CryptoKey);
    expect((await refused(await signed({}), check(), "invalid_dpop_proof")).message).toBe("DPoP proof jwk is missing");
    await refused(await signed({ jwk: "x" }), check(), "invalid_dpop_proof");
    await refused(await signed({ jwk: { crv: "P-256" } }), check(), "invalid_dpop_proof");
    // An RSA key with alg ES256 cannot be imported for that algorithm.
    await refused(await signed({ jwk: (await generateDpopKey("RS256")).publicJwk }), check(), "invalid_dpop_proof");
  });

  test("a private key in the header jwk is invalid_dpop_proof", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const privateJwk: JWK = await exportJWK(pair.privateKey);
    expect(privateJwk.d).toBeDefined();
    const value = await handmade({ typ: "dpop+jwt", alg: "ES256", jwk: privateJwk }, goodClaims(), pair.privateKey);
    const err = await refused(value, check(), "invalid_dpop_proof");
    expect(err.message).toBe("DPoP proof jwk is not a public key");
    expect(err.message).not.toContain(privateJwk.d);
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const rsaPrivate = await exportJWK(rsa.privateKey);
    await refused(await handmade({ typ: "dpop+jwt", alg: "RS256", jwk: rsaPrivate }, goodClaims(), rsa.privateKey), check(), "invalid_dpop_proof");
  });

  test("a signature by a different key than the header jwk is invalid_dpop_proof", async () => {
    const other = await generateDpopKey();
    const value = await handmade({ typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk }, goodClaims(), other.privateKey as CryptoKey);
    expect((await refused(value, check(), "invalid_dpop_proof")).message).toBe("DPoP proof signature does not verify");
    // Tampering with the payload of a good proof has the same effect.
    const [h, , s] = (await proof()).split(".");
    await refused(`${h}.${base64url.encode(JSON.stringify({ ...goodClaims(), htm: "DELETE" }))}.${s}`, check({ htm: "DELETE" }), "invalid_dpop_proof");
  });

  test("what a JWT library refuses is refused too: a crit header, an exp passed or an nbf to come, a payload that is not an object, an RSA key under 2048 bits", async () => {
    // Signed with node:crypto directly: jose will not even sign some of these.
    const enc = (o: unknown) => base64url.encode(JSON.stringify(o));
    const signedBy = (pair: KeyPairKeyObjectResult, alg: "ES256" | "RS256", header: Record<string, unknown>, payload: unknown) => {
      const input = `${enc({ typ: "dpop+jwt", alg, jwk: pair.publicKey.export({ format: "jwk" }), ...header })}.${enc(payload)}`;
      const signature = sign("sha256", Buffer.from(input), alg === "ES256" ? { key: pair.privateKey, dsaEncoding: "ieee-p1363" } : pair.privateKey);
      return `${input}.${signature.toString("base64url")}`;
    };
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const es = (header: Record<string, unknown>, payload: unknown) => signedBy(ec, "ES256", header, payload);
    expect((await refused(es({ crit: ["x"], x: 1 }, goodClaims()), check(), "invalid_dpop_proof")).message).toBe("DPoP proof has crit header parameters");
    for (const bad of [{ exp: NOW_S }, { exp: "later" }, { nbf: NOW_S + 5 }]) {
      expect((await refused(es({}, { ...goodClaims(), ...bad }), check(), "invalid_dpop_proof")).message).toBe("DPoP proof is not a valid JWT");
    }
    await verifyDpopProof(es({}, { ...goodClaims(), exp: NOW_S + 60, nbf: NOW_S }), check()); // in date: accepted
    expect((await refused(es({}, ["not", "an", "object"]), check(), "invalid_dpop_proof")).message).toBe("DPoP proof is not a valid JWT");
    const small = signedBy(generateKeyPairSync("rsa", { modulusLength: 1024 }), "RS256", {}, goodClaims());
    expect((await refused(small, check(), "invalid_dpop_proof")).message).toBe("DPoP proof jwk is not a usable key for its alg");
  });

  test("two proofs in one header value are invalid_dpop_proof", async () => {
    const a = await proof();
    const b = await proof();
    for (const value of [`${a}, ${b}`, `${a},${b}`, `${a} ${b}`, `${a}\t${b}`, ` ${a}`]) {
      expect((await refused(value, check(), "invalid_dpop_proof")).message).toBe("DPoP header must carry exactly one proof");
    }
  });

  test("a proof over 8 KiB is refused before parsing", async () => {
    expect((await refused("a".repeat(8 * 1024 + 1), check(), "invalid_dpop_proof")).message).toBe("DPoP proof is too large");
    const big = await handmade({ typ: "dpop+jwt", alg: key.alg, jwk: key.publicJwk }, { ...goodClaims(), pad: "x".repeat(8 * 1024) }, key.privateKey as CryptoKey);
    expect((await refused(big, check(), "invalid_dpop_proof")).message).toBe("DPoP proof is too large");
  });

  test("ath: the hash of the access token is accepted; a mismatch or absence is invalid_dpop_proof; without a token it is not checked", async () => {
    await verifyDpopProof(await proof({ accessToken: TOKEN }), check({ accessToken: TOKEN }));
    const mismatch = await refused(await proof({ accessToken: `${TOKEN}x` }), check({ accessToken: TOKEN }), "invalid_dpop_proof");
    expect(mismatch.message).toBe("DPoP proof ath does not match the access token");
    await refused(await proof(), check({ accessToken: TOKEN }), "invalid_dpop_proof");
    await verifyDpopProof(await proof({ accessToken: TOKEN }), check());
  });

  test("nonce: missing or stale is use_dpop_nonce with a fresh nonce; a current one is accepted; a refused proof's jti is not consumed", async () => {
    let issued = 0;
    const nonce = { current: () => ["n-current", "n-previous"], issue: () => `n-fresh-${++issued}` };
    const replay = memoryReplay();
    const missing = await refused(await proof(), check({ nonce, replay }), "use_dpop_nonce");
    expect(missing.nonce).toBe("n-fresh-1");
    expect(missing.message).toBe("DPoP proof nonce is missing");
    const stale = await refused(await proof({ nonce: "n-old" }), check({ nonce, replay }), "use_dpop_nonce");
    expect(stale.nonce).toBe("n-fresh-2");
    expect(replay.seen.size).toBe(0);
    await verifyDpopProof(await proof({ nonce: "n-current" }), check({ nonce, replay }));
    await verifyDpopProof(await proof({ nonce: "n-previous" }), check({ nonce, replay }));
    expect(replay.seen.size).toBe(2);
    // A bad proof is invalid_dpop_proof, not a nonce challenge.
    expect((await refused(await proof({ htm: "GET" }), check({ nonce }), "invalid_dpop_proof")).nonce).toBeUndefined();
  });

  test("error messages name the failed check and never contain the proof or the access token", async () => {
    const value = await proof({ accessToken: "secret-token-value" });
    const err = await refused(value, check({ accessToken: TOKEN, htm: "GET" }), "invalid_dpop_proof");
    expect(err.message).not.toContain(value);
    expect(err.message).not.toContain("secret-token-value");
    const athErr = await refused(await proof({ accessToken: "secret-token-value" }), check({ accessToken: TOKEN }), "invalid_dpop_proof");
    expect(athErr.message).not.toContain(TOKEN);
    expect(athErr.message).not.toContain("secret-token-value");
    expect(String(athErr)).toBe("DpopError: DPoP proof ath does not match the access token");
  });
});
