import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, sign as cryptoSign, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK } from "jose";
import type { Clock } from "../clock.js";
import { SIGNING_ALGS, type SigningAlg } from "./api_servers.js";

/**
 * Token signing keys: one signing key per algorithm at a time, published in
 * the JWKS before it signs and after it stops, private parts sealed at rest
 * with AES-256-GCM under a key-encryption key (KEK) kept outside the database.
 *
 * Life of a key (all derived from stored times and the injected clock, no timers):
 *   pending  create_time <= now < activate_time   published, not signing
 *   active   activate_time <= now < retire_time   published, signing
 *   retired  retire_time <= now < expire_time     published (its tokens may still be live)
 *   gone     expire_time <= now                   purged; its tokens have all expired
 * expire_time = retire_time + the longest token lifetime an API server may set.
 */
export interface KeyRecord {
  kid: string;
  alg: SigningAlg;
  publicJwk: JWK;
  /** iv (12) | tag (16) | AES-256-GCM ciphertext of the private JWK; AAD = kid. */
  sealedPrivateKey: Buffer;
  createTime: number;
  activateTime: number;
  retireTime: number | null;
}

export interface KeyRepository {
  insert(record: KeyRecord): void;
  all(): KeyRecord[];
  setRetireTime(kid: string, retireTime: number): void;
  delete(kid: string): void;
}

export type KeyState = "pending" | "active" | "retired";

export interface KeyInfo {
  kid: string;
  alg: SigningAlg;
  state: KeyState;
  createTime: number;
  activateTime: number;
  retireTime: number | null;
  expireTime: number | null;
}

export interface KeysOptions {
  repo: KeyRepository;
  clock: Clock;
  /** 32-byte key-encryption key. */
  kek: Buffer;
  /** How long a new key is published before it signs, seconds. */
  publishLeadSeconds: number;
  /** How long a retired key stays published: the longest token lifetime, seconds. */
  retainSeconds: number;
  /** Cache-Control max-age of the JWKS, seconds. */
  jwksMaxAgeSeconds: number;
}

interface LoadedKey {
  record: KeyRecord;
  /** node:crypto key: signing is synchronous (no WebCrypto thread-pool hop per token). */
  privateKey: KeyObject;
  publicKey: CryptoKey;
  /** base64url of the protected header {alg, kid, typ: "at+jwt"}, the same for every token. */
  header: string;
}

/** Digest and signature encoding per JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1). */
const SIGN_PARAMS: Record<SigningAlg, { hash: string | null; dsaEncoding?: "ieee-p1363" }> = {
  ES256: { hash: "sha256", dsaEncoding: "ieee-p1363" }, // JWS wants R || S, not DER
  RS256: { hash: "sha256" }, // RSASSA-PKCS1-v1_5
  EdDSA: { hash: null },
};

function protectedHeader(alg: SigningAlg, kid: string): string {
  return Buffer.from(JSON.stringify({ alg, kid, typ: "at+jwt" })).toString("base64url");
}

const GENERATE: Record<SigningAlg, Parameters<typeof generateKeyPair>[1]> = {
  ES256: { extractable: true },
  RS256: { extractable: true, modulusLength: 2048 },
  EdDSA: { extractable: true, crv: "Ed25519" },
};

export async function createKeys(options: KeysOptions) {
  const { repo, clock, kek } = options;
  if (kek.length !== 32) throw new Error("the key-encryption key must be 32 bytes");
  const loaded = new Map<string, LoadedKey>();
  for (const record of repo.all()) loaded.set(record.kid, await load(record, kek));
  let jwksCache: { body: Buffer; validUntil: number; generation: number } | undefined;
  let generation = 0;

  const expireTime = (r: KeyRecord) => (r.retireTime === null ? null : r.retireTime + options.retainSeconds * 1000);
  const stateOf = (r: KeyRecord, now: number): KeyState =>
    now < r.activateTime ? "pending" : r.retireTime !== null && now >= r.retireTime ? "retired" : "active";

  /** Drops keys whose every token has expired. */
  function purge(now: number): void {
    for (const [kid, key] of loaded) {
      const exp = expireTime(key.record);
      if (exp !== null && now >= exp) {
        repo.delete(kid);
        loaded.delete(kid);
        generation++;
      }
    }
  }

  /** Generates a key pair and seals its private half; nothing is stored yet. */
  async function generate(alg: SigningAlg, activateTime: number): Promise<LoadedKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, GENERATE[alg]);
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    const record: KeyRecord = {
      kid,
      alg,
      publicJwk: { ...publicJwk, kid, alg, use: "sig" },
      sealedPrivateKey: seal(Buffer.from(JSON.stringify(privateJwk)), kek, kid),
      createTime: clock.now(),
      activateTime,
      retireTime: null,
    };
    return { record, privateKey: createPrivateKey({ key: privateJwk as never, format: "jwk" }), publicKey: publicKey as CryptoKey, header: protectedHeader(alg, kid) };
  }

  function store(key: LoadedKey): void {
    repo.insert(key.record);
    loaded.set(key.record.kid, key);
    generation++;
  }

  /** The key that signs for `alg` now: the newest activated, not retired. */
  function signingKey(alg: SigningAlg, now: number): LoadedKey {
    let best: LoadedKey | undefined;
    for (const key of loaded.values()) {
      if (key.record.alg !== alg || stateOf(key.record, now) !== "active") continue;
      if (!best || key.record.activateTime > best.record.activateTime) best = key;
    }
    if (!best) throw new Error(`no active ${alg} signing key`);
    return best;
  }

  return {
    /** First start: one active key per algorithm (nothing can have cached a JWKS yet, so no lead time). */
    async ensureInitialKeys(): Promise<void> {
      for (const alg of SIGNING_ALGS) {
        if (![...loaded.values()].some((k) => k.record.alg === alg)) store(await generate(alg, clock.now()));
      }
    },

    /**
     * Creates a pending key per algorithm (or for `alg`); it signs after the
     * publish lead time, when the keys it replaces retire. Key generation runs
     * first; `run` receives the synchronous commit (so a caller can put it in
     * a transaction with its audit record).
     */
    async rotate(alg?: SigningAlg, run: (commit: () => KeyInfo[]) => KeyInfo[] = (commit) => commit()): Promise<KeyInfo[]> {
      const now = clock.now();
      const activateTime = now + options.publishLeadSeconds * 1000;
      const fresh = await Promise.all((alg ? [alg] : SIGNING_ALGS).map((a) => generate(a, activateTime)));
      return run(() => {
        for (const key of fresh) {
          for (const old of loaded.values()) {
            if (old.record.alg === key.record.alg && old.record.retireTime === null) {
              repo.setRetireTime(old.record.kid, activateTime);
              old.record.retireTime = activateTime;
            }
          }
          store(key);
        }
        return fresh.map((k) => info(k.record, now));
      });
    },

    /** Keys still published, newest first; never private material. */
    list(): KeyInfo[] {
      const now = clock.now();
      purge(now);
      return [...loaded.values()].map((k) => info(k.record, now)).sort((a, b) => b.createTime - a.createTime);
    },

    /** The JWK Set, serialized once per change of the published set. */
    jwks(): { body: Buffer; maxAge: number } {
      const now = clock.now();
      purge(now);
      if (!jwksCache || jwksCache.generation !== generation || now >= jwksCache.validUntil) {
        const keys = [...loaded.values()].map((k) => k.record.publicJwk);
        const expiries = [...loaded.values()].map((k) => expireTime(k.record)).filter((e): e is number => e !== null && e > now);
        jwksCache = { body: Buffer.from(JSON.stringify({ keys })), validUntil: Math.min(Number.MAX_SAFE_INTEGER, ...expiries), generation };
      }
      return { body: jwksCache.body, maxAge: options.jwksMaxAgeSeconds };
    },

    /** Signs claims as an RFC 9068 access token (compact JWS, RFC 7515 §7.1) with the active key of `alg`. */
    async sign(alg: SigningAlg, claims: Record<string, unknown>): Promise<string> {
      const key = signingKey(alg, clock.now());
      const input = `${key.header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
      const { hash, dsaEncoding } = SIGN_PARAMS[alg];
      const signature = cryptoSign(hash, Buffer.from(input), dsaEncoding ? { key: key.privateKey, dsaEncoding } : key.privateKey);
      return `${input}.${signature.toString("base64url")}`;
    },

    /**
     * Verifies a token against the published key named by its `kid`, with the
     * algorithm pinned to that key's (so `none` or a swapped alg never passes),
     * `typ` at+jwt and `exp` checked at the injected clock's time.
     */
    async verify(token: string): Promise<Record<string, unknown>> {
      const kid = decodeProtectedHeader(token).kid;
      const key = typeof kid === "string" ? loaded.get(kid) : undefined;
      if (!key) throw new Error("unknown kid");
      const exp = expireTime(key.record);
      if (exp !== null && clock.now() >= exp) throw new Error("key expired");
      const { payload } = await jwtVerify(token, key.publicKey, { algorithms: [key.record.alg], typ: "at+jwt", currentDate: new Date(clock.now()) });
      return payload as Record<string, unknown>;
    },
  };

  function info(r: KeyRecord, now: number): KeyInfo {
    return { kid: r.kid, alg: r.alg, state: stateOf(r, now), createTime: r.createTime, activateTime: r.activateTime, retireTime: r.retireTime, expireTime: expireTime(r) };
  }
}

export type Keys = Awaited<ReturnType<typeof createKeys>>;

async function load(record: KeyRecord, kek: Buffer): Promise<LoadedKey> {
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(open(record.sealedPrivateKey, kek, record.kid).toString("utf8")) as JWK;
  } catch {
    throw new Error(`cannot decrypt signing key ${record.kid}: wrong key-encryption key?`);
  }
  return {
    record,
    privateKey: createPrivateKey({ key: privateJwk as never, format: "jwk" }),
    publicKey: (await importJWK(record.publicJwk, record.alg)) as CryptoKey,
    header: protectedHeader(record.alg, record.kid),
  };
}

function seal(plaintext: Buffer, kek: Buffer, kid: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek, iv);
  cipher.setAAD(Buffer.from(kid));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
}

function open(sealed: Buffer, kek: Buffer, kid: string): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", kek, sealed.subarray(0, 12));
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
}
