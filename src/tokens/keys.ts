import { sign as cryptoSign, type KeyObject, type SignKeyObjectInput } from "node:crypto";
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK, type JWTHeaderParameters, type JWTPayload } from "jose";
import type { Clock } from "../clock.js";
import { ConfigError } from "../config.js";
import { FailedPrecondition } from "../domain/errors.js";
import type { Logger } from "../log.js";
import { SIGNING_ALGS, type SigningAlg } from "../domain/api_servers.js";
import { generateSigningKey, KEK_BYTES, openPrivateKey, SIGN_PARAMS, sealPrivateKey, WrongKek } from "./key_crypto.js";

/**
 * Token signing keys: per algorithm (ES256, RS256 2048-bit, EdDSA/Ed25519) one
 * key signs at a time; every key is published in the JWKS before it signs and
 * after it stops; private parts are sealed at rest with AES-256-GCM under a
 * key-encryption key (KEK) that is not in the database (key_crypto.ts; the KEK
 * itself comes from src/kek.ts).
 *
 * Life of a key, derived at read time from its stored times and the injected
 * clock (no timers):
 *   pending  now < activate_time                    published, not signing
 *   active   activate_time <= now < retire_time     published, signing
 *   retired  retire_time <= now < expire_time       published (its tokens may still be live)
 *   gone     expire_time <= now                     purged: every token it signed has expired
 * - activate_time = rotation time + `keyPublishLeadSeconds`, so relying parties
 *   that cache the JWKS (for up to `jwksMaxAgeSeconds`, which config keeps
 *   <= the lead) learn the key before the first token it signs. The very first
 *   key of each algorithm is active at once: no token, hence no cache, exists yet.
 * - retire_time is stored when a rotation creates the successor, equal to the
 *   successor's activate_time: the hand-over needs no later write.
 * - expire_time = retire_time + KEY_RETAIN_SECONDS, the longest access-token
 *   lifetime an API server may set (api_servers.ts caps token_lifetime_seconds
 *   at 30 days). The fixed cap rather than the current maximum over API
 *   servers: a lifetime can be lowered or its API server deleted while tokens
 *   issued under the old lifetime are still live. The signer refuses an `exp`
 *   beyond it, so the invariant cannot drift silently.
 *
 * API (the token endpoint and introspection build on these):
 * - `createKeys(deps)` loads and decrypts every stored key once (a wrong KEK
 *   fails here, at start-up, as a ConfigError); `ensureInitialKeys()` then
 *   creates the first active key of each algorithm that has none.
 * - `signer(alg).sign(claims, header?)`: a compact JWS, protected header
 *   `{alg, kid, typ: "at+jwt"}` (RFC 9068 §2.1), synchronous, with the key
 *   active now. The hot path reads no SQLite and decrypts nothing: keys live
 *   as node:crypto KeyObjects, the header is pre-encoded, and the active key
 *   per algorithm is cached until the next activation or retirement.
 * - `verify(token, { algorithms? })`: finds the published key named by `kid`,
 *   pins the algorithm to that key's (`none`, HS256 with the public key as
 *   secret and any other swap fail), checks `typ` at+jwt, `exp`/`nbf` at the
 *   injected clock; resolves `{ payload, protectedHeader }`, rejects with
 *   InvalidToken. Claims such as iss/aud/revocation are the caller's.
 * - `jwks()`: the JWK Set as a precomputed Buffer (public members only), rebuilt
 *   when the key set changes or a time boundary passes; `maxAge` for Cache-Control.
 * - `rotate(alg?, commitWith?)`, `list()`: KeyService. Nothing returned holds
 *   private material, and nothing here logs it.
 */

/** Longest access-token lifetime (api_servers.ts TOKEN_LIFETIME.max): how long a retired key stays published. */
export const KEY_RETAIN_SECONDS = 2_592_000; // 30 days

export interface KeyRecord {
  /** RFC 7638 JWK thumbprint (SHA-256) of the public key. */
  kid: string;
  alg: SigningAlg;
  /** Public members with kid, alg, use. Informational: the loaded key is derived from the sealed part. */
  publicJwk: JWK;
  /** iv (12) | tag (16) | AES-256-GCM ciphertext of the private JWK; AAD = kid. */
  sealedPrivateKey: Buffer;
  /** Milliseconds since the epoch. */
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

/** What ListKeys and RotateKeys show: never private material. Times in ms. */
export interface KeyInfo {
  kid: string;
  alg: SigningAlg;
  state: KeyState;
  createTime: number;
  activateTime: number;
  retireTime: number | null;
  expireTime: number | null;
}

export interface KeysDeps {
  store: { keys: KeyRepository; transaction<T>(fn: () => T): T };
  clock: Clock;
  config: { keyPublishLeadSeconds: number; jwksMaxAgeSeconds: number; maxPublishedKeysPerAlg: number };
  /** 32-byte key-encryption key. */
  kek: Buffer;
  logger: Logger;
}

export interface Signer {
  readonly alg: SigningAlg;
  /**
   * Signs `claims` (which must carry a numeric `exp`) as an access token. `header`
   * adds protected-header members; alg, kid and typ are always ours.
   */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): string;
}

/** Runs the synchronous store write of a rotation, e.g. inside an audit transaction, and returns its result. */
export type CommitWith = (write: () => KeyInfo[]) => KeyInfo[];

export interface VerifyOptions {
  /** Accept only keys of these algorithms (the key's own algorithm is always enforced). */
  algorithms?: readonly SigningAlg[];
}

export interface VerifiedToken {
  payload: JWTPayload;
  protectedHeader: JWTHeaderParameters;
}

/** A token that does not verify. `reason` is for logs and tests; never echo the token. */
export class InvalidToken extends Error {
  override name = "InvalidToken";
  constructor(readonly reason: string) {
    super(`invalid token: ${reason}`);
  }
}

interface LoadedKey {
  record: KeyRecord;
  /** node:crypto sign() key argument, built once (ECDSA needs R || S, RFC 7518 §3.4). */
  signKey: KeyObject | SignKeyObjectInput;
  /** What jose verifies with (imported once; jose would convert a KeyObject on first use anyway). */
  verifyKey: CryptoKey;
  /** [alg]: the one algorithm this key verifies. */
  algorithms: string[];
  /** base64url of {alg, kid, typ: "at+jwt"}, the same for every token. */
  header: string;
}

/** The published form: public members plus kid, alg and use (RFC 7517 §4). */
function publishedJwk(publicJwk: JWK, kid: string, alg: SigningAlg): JWK {
  return { ...publicJwk, kid, alg, use: "sig" };
}

function encodeHeader(header: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(header)).toString("base64url");
}

async function loadedKey(record: KeyRecord, privateKey: KeyObject): Promise<LoadedKey> {
  const { dsaEncoding } = SIGN_PARAMS[record.alg];
  return {
    record,
    signKey: dsaEncoding ? { key: privateKey, dsaEncoding } : privateKey,
    verifyKey: (await importJWK(record.publicJwk, record.alg)) as CryptoKey,
    algorithms: [record.alg],
    header: encodeHeader({ alg: record.alg, kid: record.kid, typ: "at+jwt" }),
  };
}

const STATE_ORDER: Record<KeyState, number> = { active: 0, pending: 1, retired: 2 };

export async function createKeys(deps: KeysDeps) {
  const { store, clock, config, kek, logger } = deps;
  if (kek.length !== KEK_BYTES) throw new ConfigError([`the key-encryption key must be ${KEK_BYTES} bytes`]);
  const leadMs = config.keyPublishLeadSeconds * 1000;
  const retainMs = KEY_RETAIN_SECONDS * 1000;

  const keys = new Map<string, LoadedKey>();
  /** Per algorithm: the signing key and the window [from, until) in which it stays the one. */
  const current = new Map<SigningAlg, { key: LoadedKey; from: number; until: number }>();
  let jwksCache: { response: { body: Buffer; maxAge: number }; builtAt: number; validUntil: number } | undefined;

  const expireTime = (r: KeyRecord): number | null => (r.retireTime === null ? null : r.retireTime + retainMs);
  const isGone = (r: KeyRecord, now: number): boolean => r.retireTime !== null && now >= r.retireTime + retainMs;
  const stateOf = (r: KeyRecord, now: number): KeyState =>
    now < r.activateTime ? "pending" : r.retireTime !== null && now >= r.retireTime ? "retired" : "active";
  const info = (r: KeyRecord, now: number): KeyInfo => ({
    kid: r.kid,
    alg: r.alg,
    state: stateOf(r, now),
    createTime: r.createTime,
    activateTime: r.activateTime,
    retireTime: r.retireTime,
    expireTime: expireTime(r),
  });

  /** The key set changed: drop everything derived from it. */
  function changed(): void {
    current.clear();
    jwksCache = undefined;
  }

  // Load: purge what expired while the service was down, decrypt the rest once.
  {
    const now = clock.now();
    for (const record of store.keys.all()) {
      if (!SIGNING_ALGS.includes(record.alg)) throw new Error(`signing key ${record.kid} has an unknown algorithm`);
      if (isGone(record, now)) {
        store.keys.delete(record.kid);
        logger.info("signing key purged", { kid: record.kid, alg: record.alg });
        continue;
      }
      let opened: Awaited<ReturnType<typeof openPrivateKey>>;
      try {
        opened = await openPrivateKey(record.sealedPrivateKey, kek, record.kid, record.alg);
      } catch (err) {
        if (!(err instanceof WrongKek)) throw err;
        // A ConfigError so that `authz serve` prints one clear line.
        throw new ConfigError([
          `cannot decrypt signing key ${record.kid}: wrong key-encryption key? Use the AUTHZ_KEY_ENCRYPTION_KEY (or authz.kek beside the data file) these keys were sealed with`,
        ]);
      }
      // The published JWK is derived from the sealed key, not read from the row.
      keys.set(record.kid, await loadedKey({ ...record, publicJwk: publishedJwk(opened.publicJwk, record.kid, record.alg) }, opened.privateKey));
    }
    logger.debug("signing keys loaded", { count: keys.size });
  }

  /** Drops keys whose every token has expired (store and memory). */
  function purge(now: number): void {
    const gone = [...keys.values()].filter((k) => isGone(k.record, now));
    if (gone.length === 0) return;
    // Best effort in the store (a later start purges what is left); memory drops them regardless.
    try {
      store.transaction(() => {
        for (const k of gone) store.keys.delete(k.record.kid);
      });
    } catch (err) {
      logger.warn("could not purge expired signing keys from the store", { error: (err as Error).name });
    }
    for (const k of gone) {
      keys.delete(k.record.kid);
      logger.info("signing key purged", { kid: k.record.kid, alg: k.record.alg });
    }
    changed();
  }

  /**
   * A rotation is refused (FAILED_PRECONDITION) while the algorithm already
   * has a pending key — a second rotation would publish a key that never
   * signs, kept for the whole retention — and when the algorithm already has
   * `maxPublishedKeysPerAlg` published keys, so the JWKS stays bounded.
   */
  function checkRotation(algs: readonly SigningAlg[], now: number): void {
    purge(now);
    for (const alg of algs) {
      const published = [...keys.values()].filter((k) => k.record.alg === alg);
      const pending = published.find((k) => now < k.record.activateTime);
      if (pending) throw new FailedPrecondition(`an ${alg} rotation is already pending: key ${pending.record.kid} signs from ${new Date(pending.record.activateTime).toISOString()}`);
      if (published.length >= config.maxPublishedKeysPerAlg) {
        const soonest = Math.min(...published.map((k) => expireTime(k.record) ?? Number.POSITIVE_INFINITY));
        throw new FailedPrecondition(`${alg} already has ${published.length} published keys (at most ${config.maxPublishedKeysPerAlg}); the oldest leaves the JWKS at ${new Date(soonest).toISOString()}`);
      }
    }
  }

  /** A new key pair for `alg`, sealed, with its record; nothing stored yet. */
  async function generate(alg: SigningAlg): Promise<{ alg: SigningAlg; kid: string; privateKey: KeyObject; publicJwk: JWK; sealed: Buffer }> {
    const { privateKey, publicJwk, kid } = await generateSigningKey(alg);
    return { alg, kid, privateKey, publicJwk: publishedJwk(publicJwk, kid, alg), sealed: sealPrivateKey(privateKey, kek, kid) };
  }

  /**
   * Stores generated keys that activate at `activateTime`, retiring then the
   * keys of the same algorithms that have no successor yet. `commitWith` runs
   * the store write (e.g. inside the caller's audit transaction); memory
   * changes only after it returned, so a rolled-back write leaves no trace.
   */
  async function add(
    fresh: Awaited<ReturnType<typeof generate>>[],
    activateTime: number,
    now: number,
    commitWith: CommitWith,
  ): Promise<KeyInfo[]> {
    const records: KeyRecord[] = fresh.map((f) => ({
      kid: f.kid,
      alg: f.alg,
      publicJwk: f.publicJwk,
      sealedPrivateKey: f.sealed,
      createTime: now,
      activateTime,
      retireTime: null,
    }));
    const loaded = await Promise.all(records.map((r, i) => loadedKey(r, fresh[i]!.privateKey)));
    const algs = new Set(records.map((r) => r.alg));
    let retiring: LoadedKey[] = [];
    let written = false;
    const infos = commitWith(() =>
      store.transaction(() => {
        retiring = [...keys.values()].filter((k) => algs.has(k.record.alg) && k.record.retireTime === null);
        for (const k of retiring) store.keys.setRetireTime(k.record.kid, activateTime);
        for (const r of records) store.keys.insert(r);
        written = true;
        return records.map((r) => info(r, now));
      }),
    );
    if (!written) return infos;
    for (const k of retiring) k.record.retireTime = activateTime;
    for (const k of loaded) {
      keys.set(k.record.kid, k);
      logger.info("signing key created", { kid: k.record.kid, alg: k.record.alg, activateTime: new Date(activateTime).toISOString() });
    }
    changed();
    return infos;
  }

  /** The key that signs for `alg` at `now`: cached until the next activation or retirement. */
  function signingKey(alg: SigningAlg, now: number): LoadedKey {
    const cached = current.get(alg);
    if (cached !== undefined && now >= cached.from && now < cached.until) return cached.key;
    let best: LoadedKey | undefined;
    let until = Number.POSITIVE_INFINITY;
    for (const k of keys.values()) {
      const r = k.record;
      if (r.alg !== alg) continue;
      if (now < r.activateTime) until = Math.min(until, r.activateTime); // a pending key takes over then
      else if ((r.retireTime === null || now < r.retireTime) && (!best || r.activateTime > best.record.activateTime)) best = k;
    }
    if (!best) throw new Error(`no active ${alg} signing key`);
    if (best.record.retireTime !== null) until = Math.min(until, best.record.retireTime);
    current.set(alg, { key: best, from: best.record.activateTime, until });
    return best;
  }

  function makeSigner(alg: SigningAlg): Signer {
    const { hash } = SIGN_PARAMS[alg];
    return {
      alg,
      sign(claims, header) {
        const now = clock.now();
        // The key must stay published as long as the token lives (see KEY_RETAIN_SECONDS).
        if (typeof claims.exp !== "number" || claims.exp * 1000 > now + retainMs) {
          throw new Error(`access token exp must be a number at most ${KEY_RETAIN_SECONDS} s ahead`);
        }
        const key = signingKey(alg, now);
        const encodedHeader = header === undefined ? key.header : encodeHeader({ ...header, alg, kid: key.record.kid, typ: "at+jwt" });
        // RFC 7515 §7.1 compact serialization: BASE64URL(header).BASE64URL(payload).BASE64URL(signature)
        const input = `${encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
        return `${input}.${cryptoSign(hash, Buffer.from(input, "latin1"), key.signKey).toString("base64url")}`;
      },
    };
  }
  const signers = new Map(SIGNING_ALGS.map((alg) => [alg, makeSigner(alg)]));

  return {
    /**
     * First start (or an algorithm with no signing key): one key per such
     * algorithm, active at once, since nothing can have cached a JWKS
     * without it. Returns the keys created.
     */
    async ensureInitialKeys(): Promise<KeyInfo[]> {
      const missing = SIGNING_ALGS.filter((alg) => ![...keys.values()].some((k) => k.record.alg === alg && k.record.retireTime === null));
      if (missing.length === 0) return [];
      const fresh = await Promise.all(missing.map(generate));
      const now = clock.now();
      return add(fresh, now, now, (write) => write());
    },

    /**
     * RotateKeys: a new key for `alg` (every algorithm when undefined), published
     * now and signing after the publish lead time, when the key it replaces
     * retires. Generation runs first (async); `commitWith` receives the
     * synchronous store write so a caller can run it inside its audit
     * transaction. Returns the new (pending) keys.
     */
    async rotate(alg?: SigningAlg, commitWith: CommitWith = (write) => write()): Promise<KeyInfo[]> {
      const algs = alg ? [alg] : [...SIGNING_ALGS];
      checkRotation(algs, clock.now());
      const fresh = await Promise.all(algs.map(generate));
      const now = clock.now();
      // Again at commit time: two rotations racing must not both pass.
      return add(fresh, now + leadMs, now, (write) => commitWith(() => (checkRotation(algs, now), write())));
    },

    /** ListKeys: every key still published, newest first. */
    list(): KeyInfo[] {
      const now = clock.now();
      purge(now);
      return [...keys.values()]
        .map((k) => info(k.record, now))
        .sort((a, b) => b.createTime - a.createTime || SIGNING_ALGS.indexOf(a.alg) - SIGNING_ALGS.indexOf(b.alg));
    },

    /**
     * The JWK Set (RFC 7517 §5), serialized once per change: rebuilt when a key
     * is added or purged, or when a time boundary passes (an activation,
     * retirement or expiry changes order or membership). Active keys come
     * first, for relying parties that pick the first key of an algorithm.
     */
    jwks(): { body: Buffer; maxAge: number } {
      const now = clock.now();
      if (jwksCache !== undefined && now < jwksCache.validUntil && now >= jwksCache.builtAt) return jwksCache.response;
      purge(now);
      const published = [...keys.values()].map((k) => k.record);
      published.sort(
        (a, b) =>
          STATE_ORDER[stateOf(a, now)] - STATE_ORDER[stateOf(b, now)] || SIGNING_ALGS.indexOf(a.alg) - SIGNING_ALGS.indexOf(b.alg) || b.createTime - a.createTime,
      );
      let validUntil = Number.POSITIVE_INFINITY;
      for (const r of published) {
        for (const t of [r.activateTime, r.retireTime, expireTime(r)]) if (t !== null && t > now) validUntil = Math.min(validUntil, t);
      }
      const body = Buffer.from(JSON.stringify({ keys: published.map((r) => r.publicJwk) }));
      jwksCache = { response: { body, maxAge: config.jwksMaxAgeSeconds }, builtAt: now, validUntil };
      return jwksCache.response;
    },

    /** The signer for `alg`; it always uses the key active at the time of each call. */
    signer(alg: SigningAlg): Signer {
      const s = signers.get(alg);
      if (!s) throw new Error(`unsupported signing algorithm ${String(alg)}`);
      return s;
    },

    /**
     * Verifies an access token against the published key named by its `kid`,
     * the algorithm pinned to that key's (RFC 8725 §3.1: never let the token
     * choose), `typ` at+jwt (RFC 9068 §4), `exp`/`nbf` at the clock's time.
     */
    async verify(token: string, options: VerifyOptions = {}): Promise<VerifiedToken> {
      let kid: unknown;
      try {
        kid = decodeProtectedHeader(token).kid;
      } catch {
        throw new InvalidToken("malformed");
      }
      const key = typeof kid === "string" ? keys.get(kid) : undefined;
      const now = clock.now();
      if (key === undefined || isGone(key.record, now)) throw new InvalidToken("unknown kid");
      if (options.algorithms !== undefined && !options.algorithms.includes(key.record.alg)) throw new InvalidToken("algorithm not allowed");
      try {
        const { payload, protectedHeader } = await jwtVerify(token, key.verifyKey, { algorithms: key.algorithms, typ: "at+jwt", currentDate: new Date(now) });
        return { payload, protectedHeader };
      } catch (err) {
        throw new InvalidToken((err as { code?: string }).code ?? "invalid");
      }
    },
  };
}

export type Keys = Awaited<ReturnType<typeof createKeys>>;
