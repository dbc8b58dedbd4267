import { createPublicKey, sign as cryptoSign, type JsonWebKey, type KeyObject, type SignKeyObjectInput } from "node:crypto";
import { decodeProtectedHeader, type JWK, type JWTHeaderParameters, type JWTPayload } from "jose";
import { isJwsType, JwsError, verifyJws } from "./jws.js";
import { toSeconds, type Clock } from "../clock.js";
import { ConfigError } from "../config.js";
import { FailedPrecondition } from "../domain/errors.js";
import type { ChangeRepository } from "../domain/ports.js";
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
 * - `createKeys(deps)` loads and decrypts every stored key (a wrong KEK
 *   fails here, at start-up, as a ConfigError); `ensureInitialKeys()` then
 *   creates the first active key of each algorithm that has none. Writes go
 *   to the store only; `load()` — at start and on every key change of the
 *   feed, on every replica — makes memory follow it.
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
 * - `prepareRotation(alg)` then `rotate(prepared, tx)`, `list()`: KeyService. Nothing returned holds
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

/** The key ring's storage port (implemented in src/store/). */
export interface KeyRepository {
  insert(record: KeyRecord): Promise<void>;
  all(): Promise<KeyRecord[]>;
  setRetireTime(kid: string, retireTime: number): Promise<void>;
  delete(kid: string): Promise<void>;
}

/** A unit of work on the key ring: its rows and the change feed. */
export interface KeyTx {
  keys: KeyRepository;
  changes: ChangeRepository;
  lock(name: "signingKeys"): Promise<void>;
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

/** A new key pair, sealed, with its published JWK. */
interface GeneratedKey {
  alg: SigningAlg;
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
  sealed: Buffer;
}

/** A rotation's keys: generated (`prepareRotation`), not yet stored (`rotate`). */
export interface PreparedRotation {
  readonly fresh: readonly GeneratedKey[];
}

export interface KeysDeps {
  store: { keys: KeyRepository; transaction<T>(fn: (tx: KeyTx) => Promise<T>): Promise<T> };
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
  /** The public key, for node:crypto verify (src/tokens/jws.ts). */
  verifyKey: KeyObject;
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
    verifyKey: createPublicKey({ key: record.publicJwk as JsonWebKey, format: "jwk" }),
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
  /** The records of the loaded keys: this replica's view of the store's. */
  const loadedRecords = () => [...keys.values()].map((k) => k.record);
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

  /**
   * Loads the key ring from the store: what every replica does at start and
   * after every key change on the feed (its own included), so memory always
   * follows the stored key set. Keys already open are kept; new ones are
   * decrypted once; keys whose every token has expired are left out (and
   * removed from the store by `purgeStore`).
   */
  async function load(): Promise<void> {
    const now = clock.now();
    const next = new Map<string, LoadedKey>();
    for (const record of await store.keys.all()) {
      if (!SIGNING_ALGS.includes(record.alg)) throw new Error(`signing key ${record.kid} has an unknown algorithm`);
      if (isGone(record, now)) continue;
      const known = keys.get(record.kid);
      if (known) {
        known.record.retireTime = record.retireTime;
        next.set(record.kid, known);
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
      next.set(record.kid, await loadedKey({ ...record, publicJwk: publishedJwk(opened.publicJwk, record.kid, record.alg) }, opened.privateKey));
      if (loaded) logger.info("signing key loaded", { kid: record.kid, alg: record.alg, activateTime: new Date(record.activateTime).toISOString() });
    }
    keys.clear();
    for (const [kid, k] of next) keys.set(kid, k);
    loaded = true;
    changed();
  }
  let loaded = false;

  /** Drops keys whose every token has expired from memory (the hot path reads memory only). */
  function purge(now: number): void {
    let any = false;
    for (const [kid, k] of keys) {
      if (!isGone(k.record, now)) continue;
      keys.delete(kid);
      any = true;
      logger.info("signing key expired", { kid, alg: k.record.alg });
    }
    if (any) changed();
  }

  /** Removes expired keys from the store (background work; any replica may, it is idempotent). */
  async function purgeStore(): Promise<void> {
    const now = clock.now();
    const gone = (await store.keys.all()).filter((r) => isGone(r, now));
    if (gone.length === 0) return;
    await store.transaction(async (tx) => {
      for (const r of gone) await tx.keys.delete(r.kid);
      await tx.changes.append({ kind: "key", id: gone.map((r) => r.kid).join(" "), time: now, detail: { purged: true } });
    });
  }

  /**
   * A rotation is refused (FAILED_PRECONDITION) while the algorithm already
   * has a pending key — a second rotation would publish a key that never
   * signs, kept for the whole retention — and when the algorithm already has
   * `maxPublishedKeysPerAlg` published keys, so the JWKS stays bounded.
   */
  function checkRotation(algs: readonly SigningAlg[], stored: readonly KeyRecord[], now: number): void {
    for (const alg of algs) {
      const published = stored.filter((r) => r.alg === alg && !isGone(r, now));
      const pending = published.find((r) => now < r.activateTime);
      if (pending) throw new FailedPrecondition(`an ${alg} rotation is already pending: key ${pending.kid} signs from ${new Date(pending.activateTime).toISOString()}`);
      if (published.length >= config.maxPublishedKeysPerAlg) {
        const soonest = Math.min(...published.map((r) => expireTime(r) ?? Number.POSITIVE_INFINITY));
        throw new FailedPrecondition(`${alg} already has ${published.length} published keys (at most ${config.maxPublishedKeysPerAlg}); the oldest leaves the JWKS at ${new Date(soonest).toISOString()}`);
      }
    }
  }

  /** A new key pair for `alg`, sealed, with its published JWK; nothing stored yet. */
  async function generate(alg: SigningAlg): Promise<GeneratedKey> {
    const { privateKey, publicJwk, kid } = await generateSigningKey(alg);
    return { alg, kid, privateKey, publicJwk: publishedJwk(publicJwk, kid, alg), sealed: sealPrivateKey(privateKey, kek, kid) };
  }

  /**
   * Stores generated keys that activate at `activateTime`, retiring then the
   * stored keys of the same algorithms that have no successor yet, and records
   * the change. Memory follows when the feed is read (`load`), on every replica.
   */
  async function store_(tx: KeyTx, fresh: readonly GeneratedKey[], stored: readonly KeyRecord[], activateTime: number, now: number): Promise<KeyInfo[]> {
    const records: KeyRecord[] = fresh.map((f) => ({ kid: f.kid, alg: f.alg, publicJwk: f.publicJwk, sealedPrivateKey: f.sealed, createTime: now, activateTime, retireTime: null }));
    const algs = new Set(records.map((r) => r.alg));
    for (const r of stored) if (algs.has(r.alg) && r.retireTime === null) await tx.keys.setRetireTime(r.kid, activateTime);
    for (const r of records) await tx.keys.insert(r);
    await tx.changes.append({ kind: "key", id: records.map((r) => r.kid).join(" "), time: now, detail: { activateTime } });
    for (const r of records) logger.info("signing key created", { kid: r.kid, alg: r.alg, activateTime: new Date(activateTime).toISOString() });
    return records.map((r) => info(r, now));
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
  await load();

  return {
    load,
    purgeStore,

    /**
     * First start (or an algorithm with no signing key): one key per such
     * algorithm, active at once, since nothing can have cached a JWKS
     * without it. Generated first, then stored under the key lock (as a rotation is):
     * N replicas starting together on an empty store create one key per
     * algorithm between them. Returns the keys this call created.
     */
    async ensureInitialKeys(): Promise<KeyInfo[]> {
      const live = (r: KeyRecord) => r.retireTime === null;
      const missingIn = (records: readonly KeyRecord[]) => SIGNING_ALGS.filter((alg) => !records.some((r) => r.alg === alg && live(r)));
      const missing = missingIn(loadedRecords());
      if (missing.length === 0) return [];
      const fresh = await Promise.all(missing.map(generate));
      const created = await store.transaction(async (tx) => {
        await tx.lock("signingKeys");
        const stored = await tx.keys.all();
        const still = new Set(missingIn(stored));
        const now = clock.now();
        const mine = fresh.filter((f) => still.has(f.alg));
        return mine.length > 0 ? store_(tx, mine, stored, now, now) : [];
      });
      await load();
      return created;
    },

    /**
     * RotateKeys, first step, outside any transaction: new key pairs for
     * `alg` (every algorithm when undefined). RSA generation takes tens of
     * milliseconds, and a store transaction held open that long stalls the
     * writes behind it (serialised in this process on SQLite; a connection
     * idle in transaction on PostgreSQL). Refused early on this replica's view
     * of the keys, so a refused rotation generates nothing; `rotate` checks
     * again on the stored rows.
     */
    async prepareRotation(alg: SigningAlg | undefined): Promise<PreparedRotation> {
      const algs = alg ? [alg] : [...SIGNING_ALGS];
      checkRotation(algs, loadedRecords(), clock.now());
      return { fresh: await Promise.all(algs.map(generate)) };
    },

    /**
     * RotateKeys, second step, inside the caller's transaction (its audit row
     * commits with it): the prepared keys, published now and signing after the
     * publish lead time, when the keys they replace retire. Refused while one
     * is pending or past the key bound, checked on the stored rows under the
     * rotation lock: two replicas rotating at once take turns, and the second
     * sees (and is refused by, or retires) the first one's key. Without the
     * lock both would read the rows before either commits (READ COMMITTED)
     * and both pass. Returns the new (pending) keys.
     */
    async rotate(prepared: PreparedRotation, tx: KeyTx): Promise<KeyInfo[]> {
      await tx.lock("signingKeys");
      const now = clock.now();
      const stored = await tx.keys.all();
      checkRotation(prepared.fresh.map((f) => f.alg), stored, now);
      return store_(tx, prepared.fresh, stored, now + leadMs, now);
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
      const published = loadedRecords();
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
      let protectedHeader: JWTHeaderParameters;
      try {
        protectedHeader = decodeProtectedHeader(token) as JWTHeaderParameters;
      } catch {
        throw new InvalidToken("malformed");
      }
      const { kid } = protectedHeader;
      const key = typeof kid === "string" ? keys.get(kid) : undefined;
      const now = clock.now();
      if (key === undefined || isGone(key.record, now)) throw new InvalidToken("unknown kid");
      const { alg } = key.record;
      if (options.algorithms !== undefined && !options.algorithms.includes(alg)) throw new InvalidToken("algorithm not allowed");
      if (protectedHeader.alg !== alg) throw new InvalidToken("alg is not the key's");
      if (!isJwsType(protectedHeader.typ, "at+jwt")) throw new InvalidToken("typ is not at+jwt"); // RFC 9068 §4
      try {
        return { payload: verifyJws(token, protectedHeader, key.verifyKey, alg, toSeconds(now)), protectedHeader };
      } catch (err) {
        if (err instanceof JwsError) throw new InvalidToken(err.problem);
        throw err;
      }
    },
  };
}

export type Keys = Awaited<ReturnType<typeof createKeys>>;
