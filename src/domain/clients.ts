import { randomBytes, timingSafeEqual } from "node:crypto";
import { importJWK, type JSONWebKeySet, type JWK } from "jose";
import type { Clock } from "../clock.js";
import type { Actor, Ceiling } from "./ceiling.js";
import { AUTH_METHODS, GRANT_TYPES, JWKS_AUTH_METHODS, MIN_RSA_BITS, type AuthMethod } from "./constants.js";
import { Aborted, NotFound, Violations } from "./errors.js";
import { approximateSize, lookupCache } from "./cache.js";
import { stepFor, warmFrom } from "./warm.js";
import { checkClientId, etagOf, newId, newSecret, sha256 } from "./ids.js";
import { checkName } from "./names.js";
import { rateLimitMetadataProblems } from "./rate_limit_metadata.js";
import { checkTlsClientAuthMetadata, TLS_CLIENT_AUTH_FIELDS, type TlsClientAuthMetadata } from "./tls_client_auth.js";
import { checkEtag, checkUpdateMask } from "./mutation.js";
import { listQuery, toPage, type Page } from "./listing.js";
import type { DomainData, DomainStore, DomainTx } from "./ports.js";

export type { AuthMethod };

export interface ClientSecret {
  id: string;
  /** SHA-256 of the secret; the secret itself is never stored. */
  hash: Buffer;
  createTime: number;
  /** Set while a rotated-out secret is in its grace period (ms). */
  expireTime: number | null;
}

export interface Client {
  seq: number;
  clientId: string;
  name: string;
  description: string;
  type: "m2m";
  tokenEndpointAuthMethod: AuthMethod;
  grantTypes: string[];
  disabled: boolean;
  dynamic: boolean;
  metadata: Record<string, string>;
  jwks: JSONWebKeySet | undefined;
  /** RFC 8705 §2.1.2: the certificate value naming a tls_client_auth client (exactly one member set); undefined otherwise. */
  tlsClientAuth: TlsClientAuthMetadata | undefined;
  /** RFC 8705 §3.4 tls_client_certificate_bound_access_tokens. */
  certificateBoundTokens: boolean;
  /** RFC 9449 §5.2 dpop_bound_access_tokens. */
  dpopBoundTokens: boolean;
  secrets: ClientSecret[];
  tokensIssued: number;
  lastIssueTime: number | null;
  /** Tokens issued before this (ms) are invalid: secret revoked without grace, client disabled. */
  tokensValidAfter: number;
  createTime: number;
  updateTime: number;
  version: number;
}

export interface ClientInput {
  name: string;
  description: string;
  type: string | undefined;
  tokenEndpointAuthMethod: string | undefined;
  grantTypes: string[];
  disabled: boolean;
  metadata: Record<string, string>;
  jwks: Record<string, unknown> | undefined;
  /** RFC 8705 §2.1.2 value of a tls_client_auth client; empty strings are unset. */
  tlsClientAuth?: TlsClientAuthMetadata;
  certificateBoundTokens?: boolean;
  dpopBoundTokens?: boolean;
}

const UPDATABLE: Record<string, keyof ClientInput> = {
  name: "name",
  description: "description",
  type: "type",
  token_endpoint_auth_method: "tokenEndpointAuthMethod",
  grant_types: "grantTypes",
  disabled: "disabled",
  metadata: "metadata",
  jwks: "jwks",
  // One value names a tls_client_auth client: updating any of them replaces the set.
  tls_client_auth_subject_dn: "tlsClientAuth",
  tls_client_auth_san_dns: "tlsClientAuth",
  tls_client_auth_san_uri: "tlsClientAuth",
  tls_client_auth_san_ip: "tlsClientAuth",
  tls_client_auth_san_email: "tlsClientAuth",
  tls_client_certificate_bound_access_tokens: "certificateBoundTokens",
  dpop_bound_access_tokens: "dpopBoundTokens",
};
const OUTPUT_ONLY = new Set(["client_id", "dynamic", "secrets", "usage", "create_time", "update_time", "etag"]);
const FILTER_FIELDS = { name: "string", disabled: "bool", dynamic: "bool" } as const;
const MAX_GRACE_SECONDS = 2_592_000; // 30 days
/** Private JWK members (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2): never accepted in a client's jwks. */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

export interface ClientsDeps {
  /** Reads and the usage counters' own writes, outside the callers' transactions. */
  store: Pick<DomainStore, "clients" | "grants" | "apiServers" | "transaction">;
  clock: Clock;
  ceiling: Ceiling;
  cacheMaxBytes: number;
}

export function createClients(deps: ClientsDeps) {
  const { store, clock, ceiling } = deps;
  /**
   * Hot-path cache of clients by id (the token endpoint authenticates through
   * it without touching the store), kept coherent across replicas by the
   * change feed (`invalidate`); unknown ids are not cached.
   */
  const cache = lookupCache(loadWithUsage, { maxBytes: deps.cacheMaxBytes, sizeOf: approximateSize });
  const find = cache.get;

  async function get(clientId: string, field = "client_id", from?: Pick<DomainData, "clients">): Promise<Client> {
    checkClientId(clientId, field);
    const client = from ? await from.clients.get(clientId) : await find(clientId);
    if (!client) throw new NotFound("client", clientId);
    return client;
  }

  /** Creates a client with its first secret (server-generated unless given: the bootstrap admin from the environment). */
  async function create(input: ClientInput, tx: DomainTx, options: { dynamic?: boolean; clientId?: string; secret?: string } = {}): Promise<{ client: Client; secret: string }> {
    const v = new Violations();
    const fields = await validate(input, v, "client.");
    v.throwIfAny();
    const now = clock.now();
    const secret = options.secret ?? newSecret();
    const client: Client = {
      seq: 0,
      clientId: options.clientId ?? newId("cl"),
      ...fields,
      dynamic: options.dynamic === true,
      secrets: [newSecretRecord(secret, now)],
      tokensIssued: 0,
      lastIssueTime: null,
      tokensValidAfter: 0,
      createTime: now,
      updateTime: now,
      version: 1,
    };
    const stored = await tx.clients.insert(client);
    await tx.changes.append({ kind: "client", id: stored.clientId, time: now, detail: {} });
    return { client: stored, secret };
  }

  async function list(pageSize: number, pageToken: string, filter: string): Promise<Page<Client>> {
    const query = listQuery(pageSize, pageToken, filter, FILTER_FIELDS);
    return toPage(await store.clients.list(query), query, filter);
  }

  async function update(clientId: string, input: ClientInput, mask: string[], etag: string, actor: Actor, tx: DomainTx): Promise<Client> {
    const v = new Violations();
    checkUpdateMask(mask, v, { updatable: Object.keys(UPDATABLE), outputOnly: OUTPUT_ONLY });
    v.throwIfAny();
    const current = await get(clientId, "client.client_id", tx);
    checkEtag(etag, etagOfClient(current), "client");
    await ceiling.checkClientWrite(actor, clientId, tx);
    const merged: ClientInput = { ...current, jwks: current.jwks as Record<string, unknown> | undefined, type: current.type };
    for (const path of mask) (merged as unknown as Record<string, unknown>)[UPDATABLE[path]!] = input[UPDATABLE[path]!];
    const fields = await validate(merged, v, "client.");
    v.throwIfAny();
    const now = clock.now();
    const disabling = fields.disabled && !current.disabled;
    if (disabling) await ceiling.checkKeepsAnAdmin(clientId, undefined, tx);
    // Disabling revokes every token issued so far (one timestamp, no row per token).
    const next: Client = { ...current, ...fields, tokensValidAfter: disabling ? now : current.tokensValidAfter, updateTime: now, version: current.version + 1 };
    return commit(next, tx, disabling ? "client_disabled" : undefined);
  }

  async function remove(clientId: string, etag: string, actor: Actor, tx: DomainTx): Promise<void> {
    const current = await get(clientId, "client_id", tx);
    checkEtag(etag, etagOfClient(current), "client");
    await ceiling.checkClientWrite(actor, clientId, tx);
    await ceiling.checkKeepsAnAdmin(clientId, undefined, tx);
    const audiences = await audiencesOf(current, tx); // before the grants cascade away
    // On the version read: what was checked is what goes (a write committed meanwhile makes this one retry).
    if (!(await tx.clients.delete(clientId, current.version))) throw new Aborted("the client changed concurrently; read it again"); // grants cascade (foreign key)
    await tx.changes.append({ kind: "client", id: clientId, time: clock.now(), detail: { deleted: true, reason: "client_deleted", tokensValidAfter: clock.now(), audiences } });
  }

  /**
   * Issues a new secret. The newest previous secret stays valid for
   * `graceSeconds`; with 0 it is revoked now, and so is every token issued
   * before now. At most two secrets live at once.
   */
  async function rotateSecret(clientId: string, graceSeconds: number, actor: Actor, tx: DomainTx): Promise<{ client: Client; secret: string }> {
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_GRACE_SECONDS) {
      const v = new Violations();
      v.add("grace_period_seconds", `must be 0..${MAX_GRACE_SECONDS}`);
      v.throwIfAny();
    }
    const current = await get(clientId, "client_id", tx);
    await ceiling.checkClientWrite(actor, clientId, tx);
    const now = clock.now();
    const secret = newSecret();
    const live = current.secrets.filter((s) => s.expireTime === null || s.expireTime > now);
    const previous = live.sort((a, b) => b.createTime - a.createTime)[0];
    const secrets: ClientSecret[] = [newSecretRecord(secret, now)];
    if (previous && graceSeconds > 0) secrets.push({ ...previous, expireTime: now + graceSeconds * 1000 });
    const next: Client = {
      ...current,
      secrets,
      tokensValidAfter: graceSeconds === 0 ? now : current.tokensValidAfter,
      updateTime: now,
      version: current.version + 1,
    };
    return { client: await commit(next, tx, graceSeconds === 0 ? "secret_revoked" : undefined), secret };
  }

  /**
   * The token endpoint's secret check: constant-time against every live secret
   * digest (RFC 6749 §2.3.1). Unknown client, wrong or expired secret and a
   * disabled client all fail the same way (undefined).
   */
  async function authenticateSecret(clientId: string, secret: string): Promise<Client | undefined> {
    const client = await find(clientId);
    const presented = sha256(secret);
    const now = clock.now();
    let ok = false;
    // An unknown client still costs one comparison, like a known one with a wrong secret.
    for (const s of client?.secrets ?? [UNKNOWN_CLIENT_SECRET]) {
      if (timingSafeEqual(s.hash, presented) && (s.expireTime === null || s.expireTime > now)) ok = true;
    }
    return client && ok && !client.disabled ? client : undefined;
  }

  /**
   * Issuance counters are kept in memory and written by `flushUsage` (the
   * server calls it every second and at shutdown): one write per client per
   * second instead of one per token on the hot path.
   */
  const pendingUsage = new Map<string, { count: number; last: number }>();

  /** Counts an issued token. */
  function recordIssuance(clientId: string, at: number): void {
    const pending = pendingUsage.get(clientId);
    if (pending) {
      pending.count++;
      pending.last = at;
    } else pendingUsage.set(clientId, { count: 1, last: at });
    const cached = cache.peek(clientId);
    if (cached) {
      cached.tokensIssued++;
      cached.lastIssueTime = at;
    }
  }

  /** A client loaded from the store before a flush lacks its pending counts; add them. */
  function withPendingUsage(client: Client | undefined): Client | undefined {
    const pending = client && pendingUsage.get(client.clientId);
    if (!client || !pending) return client;
    return { ...client, tokensIssued: client.tokensIssued + pending.count, lastIssueTime: Math.max(client.lastIssueTime ?? 0, pending.last) };
  }

  /**
   * Writes the pending counts (atomic increments: replicas add to the same
   * counters concurrently without losing any). When the store refuses (disk
   * full, down), the batch goes back into the pending counts for the next
   * flush and the error is thrown for the caller to log: issuance itself never
   * waits on this.
   */
  let flushing: Promise<void> = Promise.resolve();
  let flushesStarted = 0;
  let flushesEnded = 0;

  /**
   * A client from the store with the counts not yet written added. A flush
   * moves counts from memory to the store while a read may be under way: the
   * read waits for a flush in flight, and is made again when one started
   * during it (flushes run once a second, so this ends at once), so counts are
   * never missed or added twice.
   */
  async function loadWithUsage(clientId: string): Promise<Client | undefined> {
    for (;;) {
      // Awaited only while one runs: the read then starts in its caller's synchronous stretch (its trace span, src/tracing.ts).
      if (flushesEnded !== flushesStarted) await flushing.catch(() => {});
      const started = flushesStarted;
      const client = await store.clients.get(clientId);
      if (started === flushesStarted) return withPendingUsage(client);
    }
  }

  function flushUsage(): Promise<void> {
    if (pendingUsage.size === 0) return Promise.resolve();
    flushesStarted++;
    flushing = writeUsage();
    return flushing;
  }

  async function writeUsage(): Promise<void> {
    const batch = [...pendingUsage];
    pendingUsage.clear();
    try {
      await store.transaction(async (tx) => {
        for (const [clientId, { count, last }] of batch) await tx.clients.recordIssuance(clientId, count, last);
      });
    } catch (err) {
      for (const [clientId, { count, last }] of batch) {
        const pending = pendingUsage.get(clientId);
        if (pending) {
          pending.count += count;
          pending.last = Math.max(pending.last, last);
        } else pendingUsage.set(clientId, { count, last });
      }
      throw err;
    } finally {
      flushesEnded++;
    }
  }

  /**
   * Stores the next version and records the change; `revocation` names why
   * every token issued before `tokensValidAfter` stopped being valid, with the
   * audiences those tokens may be for (the revocation watch tells their
   * resource servers).
   */
  async function commit(next: Client, tx: DomainTx, revocation?: "client_disabled" | "secret_revoked"): Promise<Client> {
    if (!(await tx.clients.update(next))) throw new Aborted("the client changed concurrently; read it again");
    const detail = revocation ? { reason: revocation, tokensValidAfter: next.tokensValidAfter, audiences: await audiencesOf(next, tx) } : {};
    await tx.changes.append({ kind: "client", id: next.clientId, time: next.updateTime, detail });
    return next;
  }

  /** The identifiers of the API servers a client may hold tokens for: its grants', and for a dynamic client the dynamic-access ones. */
  async function audiencesOf(client: Client, tx: DomainTx): Promise<string[]> {
    const grants = await tx.grants.list({ terms: [], afterSeq: 0, limit: Number.MAX_SAFE_INTEGER }, { clientId: client.clientId, apiServerId: "" });
    const servers = await Promise.all(grants.map((g) => tx.apiServers.get(g.apiServerId)));
    const out = new Set(servers.filter((s): s is NonNullable<typeof s> => s !== undefined).map((s) => s.identifier));
    if (client.dynamic) {
      for (const s of await tx.apiServers.list({ terms: [], afterSeq: 0, limit: Number.MAX_SAFE_INTEGER })) if (s.dynamicClientAccess) out.add(s.identifier);
    }
    return [...out];
  }

  /**
   * Fills the cache from the store (at start-up, in the background), so the
   * token endpoint's cost does not depend on which clients were asked for
   * before: every live client in memory while the budget lasts. A page read
   * while a usage flush ran is read again (its counts may be in neither
   * place, as in loadWithUsage).
   */
  function warm(stopped?: () => boolean): Promise<number> {
    return warmFrom(
      store.clients.list,
      async () => {
        if (flushesEnded !== flushesStarted) await flushing.catch(() => {});
        return { cache: cache.epoch(), flushes: flushesStarted };
      },
      (rows, at) => {
        if (flushesStarted !== at.flushes) return "again";
        return stepFor(cache.prime(rows.map((c) => [c.clientId, withPendingUsage(c)!] as const), at.cache));
      },
      stopped,
    );
  }

  /** A change to a client, from this replica or another (the change feed). */
  function invalidate(clientId: string): void {
    cache.delete(clientId);
  }

  return { create, get, find, list, update, delete: remove, rotateSecret, authenticateSecret, recordIssuance, flushUsage, warm, invalidate, cacheStats: cache.stats };
}

export type Clients = ReturnType<typeof createClients>;

/** Compared against when the client id is unknown; no secret hashes to it (an unknown client never authenticates). */
const UNKNOWN_CLIENT_SECRET: ClientSecret = { id: "", hash: Buffer.alloc(32), createTime: 0, expireTime: 0 };

function newSecretRecord(secret: string, now: number): ClientSecret {
  return { id: `sec_${randomBytes(6).toString("base64url")}`, hash: sha256(secret), createTime: now, expireTime: null };
}

export function etagOfClient(c: Client): string {
  return etagOf(c.clientId, c.version);
}

type Fields = Pick<Client, "name" | "description" | "type" | "tokenEndpointAuthMethod" | "grantTypes" | "disabled" | "metadata" | "jwks" | "tlsClientAuth" | "certificateBoundTokens" | "dpopBoundTokens">;

async function validate(input: ClientInput, v: Violations, prefix: string): Promise<Fields> {
  const name = checkName(input.name, v, `${prefix}name`);
  if (input.description.length > 2000) v.add(`${prefix}description`, "must be at most 2,000 characters");
  if (input.type !== undefined && input.type !== "m2m") v.add(`${prefix}type`, "must be M2M");
  const method = (input.tokenEndpointAuthMethod ?? "client_secret_basic") as AuthMethod;
  if (!(AUTH_METHODS as readonly string[]).includes(method)) v.add(`${prefix}token_endpoint_auth_method`, `must be one of ${AUTH_METHODS.join(", ")}`);
  // Checked before de-duplication so the index names the request's element.
  input.grantTypes.forEach((g, i) => {
    if (!(GRANT_TYPES as readonly string[]).includes(g)) v.add(`${prefix}grant_types[${i}]`, "must be client_credentials or refresh_token");
  });
  const grantTypes = input.grantTypes.length === 0 ? ["client_credentials"] : [...new Set(input.grantTypes)];
  const entries = Object.entries(input.metadata);
  if (entries.length > 20) v.add(`${prefix}metadata`, "must have at most 20 entries");
  for (const [k, val] of entries) {
    if (k.length < 1 || k.length > 64) v.add(`${prefix}metadata`, `key ${JSON.stringify(k.slice(0, 64))} must be 1..64 characters`);
    if (val.length > 512) v.add(`${prefix}metadata[${JSON.stringify(k.slice(0, 64))}]`, "must be at most 512 characters");
  }
  for (const { key, problem } of rateLimitMetadataProblems(input.metadata)) v.add(`${prefix}metadata[${JSON.stringify(key.slice(0, 64))}]`, problem);
  const jwks = await validateJwks(input.jwks, v, `${prefix}jwks`);
  if (JWKS_AUTH_METHODS.includes(method) && !jwks) v.add(`${prefix}jwks`, `is required for ${method}`);
  const tlsClientAuth = validateTlsClientAuth(method, input.tlsClientAuth ?? {}, v, prefix);
  return {
    name,
    description: input.description,
    type: "m2m",
    tokenEndpointAuthMethod: method,
    grantTypes,
    disabled: input.disabled,
    metadata: input.metadata,
    jwks,
    tlsClientAuth,
    certificateBoundTokens: input.certificateBoundTokens === true,
    dpopBoundTokens: input.dpopBoundTokens === true,
  };
}

/** RFC 8705 §2.1.2: exactly one of the five for tls_client_auth, none for any other method. */
function validateTlsClientAuth(method: AuthMethod, input: TlsClientAuthMetadata, v: Violations, prefix: string): TlsClientAuthMetadata | undefined {
  const set = Object.fromEntries(TLS_CLIENT_AUTH_FIELDS.filter(([k]) => input[k]).map(([k]) => [k, input[k]])) as TlsClientAuthMetadata;
  const named = TLS_CLIENT_AUTH_FIELDS.filter(([k]) => set[k] !== undefined);
  if (method !== "tls_client_auth") {
    for (const [, field] of named) v.add(`${prefix}${field}`, "is only for tls_client_auth");
    return undefined;
  }
  const problem = checkTlsClientAuthMetadata(set);
  if (problem) v.add(`${prefix}${named.length === 1 ? named[0]![1] : "tls_client_auth_subject_dn"}`, problem);
  return set;
}

/** A JWK Set of public keys (RFC 7517 §5) that jose can import; private members refused. */
async function validateJwks(value: Record<string, unknown> | undefined, v: Violations, field: string): Promise<JSONWebKeySet | undefined> {
  if (value === undefined || Object.keys(value).length === 0) return undefined;
  const keys = value.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10) {
    v.add(field, "must be a JWK Set with 1..10 keys");
    return undefined;
  }
  for (const [i, key] of keys.entries()) {
    if (typeof key !== "object" || key === null) {
      v.add(`${field}.keys[${i}]`, "must be a JWK object");
      continue;
    }
    if (PRIVATE_MEMBERS.some((m) => m in key)) {
      v.add(`${field}.keys[${i}]`, "must be a public key (private or symmetric members are refused)");
      continue;
    }
    try {
      await importJWK(key as JWK, (key as JWK).alg ?? algFor(key as JWK));
    } catch {
      v.add(`${field}.keys[${i}]`, "is not a usable public JWK");
      continue;
    }
    // RFC 7518 §3.3: RSA keys of 2048 bits or more; a smaller one imports, yet no assertion it signs is accepted.
    const bits = (key as JWK).kty === "RSA" ? rsaModulusBits((key as JWK).n) : Infinity;
    if (bits < MIN_RSA_BITS) v.add(`${field}.keys[${i}]`, `is an RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  }
  return { keys: keys as JWK[] };
}

function rsaModulusBits(n: string | undefined): number {
  const bytes = Buffer.from(n ?? "", "base64url");
  const first = bytes.findIndex((b) => b !== 0);
  return first < 0 ? 0 : (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first]!));
}

function algFor(jwk: JWK): string {
  if (jwk.kty === "EC") return jwk.crv === "P-384" ? "ES384" : "ES256";
  if (jwk.kty === "OKP") return "EdDSA";
  return "RS256";
}
