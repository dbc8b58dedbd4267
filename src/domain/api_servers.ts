import type { Clock } from "../clock.js";
import { AUDIENCE, RESERVED_IDENTIFIER_PREFIX, RESOURCE_ID, SCOPE_TOKEN, SENDER_CONSTRAINTS, type SenderConstraint } from "./constants.js";
import { Aborted, FailedPrecondition, NotFound, Violations } from "./errors.js";
import { checkName } from "./names.js";
import { approximateSize, lookupCache } from "./cache.js";
import { stepFor, warmFrom } from "./warm.js";
import { checkResourceId, etagOf, newId } from "./ids.js";
import { checkEtag, checkUpdateMask } from "./mutation.js";
import { listQuery, toPage, type Page } from "./listing.js";
import type { DomainData, DomainTx } from "./ports.js";

export type SigningAlg = "ES256" | "RS256" | "EdDSA";
export type TokenDialect = "access_token" | "access_token_authz";

export const SIGNING_ALGS: readonly SigningAlg[] = ["ES256", "RS256", "EdDSA"];
export const TOKEN_DIALECTS: readonly TokenDialect[] = ["access_token", "access_token_authz"];

export interface Permission {
  value: string;
  description: string;
}

export interface ApiServer {
  seq: number;
  id: string;
  name: string;
  identifier: string;
  audiences: string[];
  description: string;
  permissions: Permission[];
  signingAlg: SigningAlg;
  tokenLifetimeSeconds: number;
  tokenDialect: TokenDialect;
  enforcePolicies: boolean;
  allowOfflineAccess: boolean;
  refreshTokenLifetimeSeconds: number;
  skipConsent: boolean;
  dynamicClientAccess: boolean;
  dynamicClientScopes: string[];
  /** Whether every token for it must be bound: to the client's TLS certificate (RFC 8705 §3) or a DPoP key (RFC 9449). */
  senderConstraint: SenderConstraint;
  system: boolean;
  /** Milliseconds since the epoch. */
  createTime: number;
  updateTime: number;
  version: number;
}

/**
 * What a caller may set. Enum-valued fields arrive as strings so that an
 * unknown value from the wire is reported as a field violation, not dropped;
 * `undefined` means "not given" (the default applies on create).
 */
export interface ApiServerInput {
  name: string;
  identifier: string;
  audiences: string[];
  description: string;
  permissions: Permission[];
  signingAlg: string | undefined;
  tokenLifetimeSeconds: number;
  /**
   * `token_lifetime`, the Auth0/Faable name of tokenLifetimeSeconds (proto3
   * has no field aliases): 0 or undefined is not given; given beside a
   * different tokenLifetimeSeconds, a violation.
   */
  tokenLifetime?: number;
  tokenDialect: string | undefined;
  enforcePolicies: boolean;
  allowOfflineAccess: boolean;
  refreshTokenLifetimeSeconds: number;
  skipConsent: boolean;
  dynamicClientAccess: boolean;
  dynamicClientScopes: string[];
  /** none (undefined), mtls or dpop. */
  senderConstraint?: string;
}

export const DEFAULT_TOKEN_LIFETIME_SECONDS = 86_400; // 1 day
export const DEFAULT_REFRESH_TOKEN_LIFETIME_SECONDS = 2_592_000; // 30 days
const TOKEN_LIFETIME = { min: 60, max: 2_592_000 }; // 1 minute .. 30 days
const REFRESH_LIFETIME = { min: 60, max: 31_536_000 }; // 1 minute .. 365 days

/** Fields an update mask may name, by proto field name, with the input key they set. */
const UPDATABLE: Record<string, keyof ApiServerInput> = {
  name: "name",
  audiences: "audiences",
  description: "description",
  permissions: "permissions",
  signing_alg: "signingAlg",
  token_lifetime_seconds: "tokenLifetimeSeconds",
  token_lifetime: "tokenLifetime",
  token_dialect: "tokenDialect",
  sender_constraint: "senderConstraint",
  enforce_policies: "enforcePolicies",
  allow_offline_access: "allowOfflineAccess",
  refresh_token_lifetime_seconds: "refreshTokenLifetimeSeconds",
  skip_consent: "skipConsent",
  dynamic_client_access: "dynamicClientAccess",
  dynamic_client_scopes: "dynamicClientScopes",
};
const IMMUTABLE = new Set(["identifier"]);
const OUTPUT_ONLY = new Set(["id", "create_time", "update_time", "etag", "system"]);
const FILTER_FIELDS = { name: "string", identifier: "string" } as const;

/** Fields of the built-in management API server an update may change: nothing that widens what its tokens can do. */
const SYSTEM_UPDATABLE = new Set(["description"]);

export interface ApiServersDeps {
  /** Reads outside transactions. */
  store: Pick<DomainData, "apiServers">;
  clock: Clock;
  cacheMaxBytes: number;
}

export function createApiServers(deps: ApiServersDeps) {
  const { store, clock } = deps;
  /**
   * Hot-path cache for the token endpoint: API servers by audience value,
   * kept coherent across replicas by the change feed (`invalidate`).
   */
  const byAudience = lookupCache((audience) => store.apiServers.findByAudience(audience), { maxBytes: deps.cacheMaxBytes, sizeOf: approximateSize });

  /** `field` names the id in the request, for the violation when it is missing (AIP-131: INVALID_ARGUMENT, not NOT_FOUND). */
  async function get(id: string, field = "id", from: Pick<DomainData, "apiServers"> = store): Promise<ApiServer> {
    checkResourceId(id, field);
    const server = await from.apiServers.get(id);
    if (!server) throw new NotFound("API server", id);
    return server;
  }

  /**
   * The API server a create would make, every violation at once; nothing is
   * written (AIP-163 validate_only shows it without its id).
   */
  function checkCreate(input: ApiServerInput, options: { system?: boolean } = {}): ApiServer {
    const v = new Violations();
    const fields = validate(input, v, "api_server.");
    checkIdentifier(input.identifier, v, "api_server.identifier", options.system === true);
    v.throwIfAny();
    const now = clock.now();
    return { seq: 0, id: "", identifier: input.identifier, ...fields, system: options.system === true, createTime: now, updateTime: now, version: 1 };
  }

  async function create(input: ApiServerInput, tx: DomainTx, options: { system?: boolean } = {}): Promise<ApiServer> {
    const server = { ...checkCreate(input, options), id: newId("as") };
    const created = await tx.apiServers.insert(server);
    await tx.changes.append(change(created, server.createTime, { created: true }));
    return created;
  }

  async function list(pageSize: number, pageToken: string, filter: string): Promise<Page<ApiServer>> {
    // Tokens name the collection too: a ListClients token here is refused, not read as a position among API servers.
    const boundTo = `api_servers\n${filter}`;
    const query = listQuery(pageSize, pageToken, filter, FILTER_FIELDS, boundTo);
    return toPage(await store.apiServers.list(query), query, boundTo);
  }

  /**
   * The API server an update would leave (mask, etag and every violation of
   * the merged resource checked), and the current one; nothing is written.
   */
  async function checkUpdate(id: string, input: ApiServerInput, mask: string[], etag: string, from: Pick<DomainData, "apiServers">): Promise<{ current: ApiServer; next: ApiServer }> {
    const v = new Violations();
    if (!id) v.add("api_server.id", "is required");
    checkUpdateMask(mask, v, { updatable: Object.keys(UPDATABLE), immutable: IMMUTABLE, outputOnly: OUTPUT_ONLY });
    v.throwIfAny();
    const current = await get(id, "api_server.id", from);
    checkEtag(etag, etagOfApiServer(current), "API server");
    if (current.system) checkSystemUpdate(mask);
    const merged: ApiServerInput = toInput(current);
    for (const path of mask) (merged as unknown as Record<string, unknown>)[UPDATABLE[path]!] = input[UPDATABLE[path]!];
    // `token_lifetime` without token_lifetime_seconds replaces the lifetime: the current value does not contradict it.
    if (mask.includes("token_lifetime") && !mask.includes("token_lifetime_seconds")) merged.tokenLifetimeSeconds = 0;
    const fields = validate(merged, v, "api_server.");
    v.throwIfAny();
    return { current, next: { ...current, ...fields, updateTime: clock.now(), version: current.version + 1 } };
  }

  async function update(id: string, input: ApiServerInput, mask: string[], etag: string, tx: DomainTx): Promise<ApiServer> {
    // Before anything is read: a grant write checking scopes against these permissions waits, or is seen by removeScopes.
    if (RESOURCE_ID.test(id)) await tx.lockPermissions(id);
    const { current, next } = await checkUpdate(id, input, mask, etag, tx);
    if (!(await tx.apiServers.update(next))) throw new Aborted("the API server changed concurrently; read it again");
    // A permission that no longer exists is removed from every grant (the
    // Auth0 behaviour): grants never name scopes the API server lacks.
    const kept = new Set(next.permissions.map((p) => p.value));
    const removed = current.permissions.map((p) => p.value).filter((value) => !kept.has(value));
    if (removed.length > 0) await tx.grants.removeScopes(id, removed, next.updateTime);
    await tx.changes.append(change(next, next.updateTime, { previous: [current.identifier, ...current.audiences], ...(removed.length > 0 ? { removedScopes: removed } : {}) }));
    return next;
  }

  async function remove(id: string, etag: string, tx: DomainTx): Promise<void> {
    const current = await get(id, "id", tx);
    checkEtag(etag, etagOfApiServer(current), "API server");
    if (current.system) throw new FailedPrecondition("the built-in management API server cannot be deleted");
    // On the version read: what was checked is what goes (a write committed meanwhile makes this one retry).
    if (!(await tx.apiServers.delete(id, current.version))) throw new Aborted("the API server changed concurrently; read it again"); // grants cascade
    await tx.changes.append(change(current, clock.now(), { deleted: true }));
  }

  /**
   * A change to an API server, from this replica or another (the change
   * feed): every cached audience it had or has goes — by key when the change
   * names them (a write costs the same however many are cached), by a scan
   * when it does not.
   */
  function invalidate(apiServerId: string, audiences: readonly string[]): void {
    if (audiences.length === 0) return byAudience.deleteWhere((_audience, cached) => cached.id === apiServerId);
    for (const audience of audiences) byAudience.delete(audience);
  }

  /** Fills the cache with every API server under each of its audience values while the budget lasts (start-up, background). */
  function warm(stopped?: () => boolean): Promise<number> {
    return warmFrom(store.apiServers.list, byAudience.epoch, (rows, at) =>
      stepFor(byAudience.prime(rows.flatMap((s) => [s.identifier, ...s.audiences].map((audience) => [audience, s] as const)), at)),
      stopped,
    );
  }

  return {
    create,
    /** AIP-163 validate_only of a create: what it would make (no id), or its violations. */
    checkCreate,
    get,
    findByAudience: byAudience.get,
    list,
    update,
    /** AIP-163 validate_only of an update: the API server it would leave, or its violations (reads outside any transaction). */
    checkUpdate: async (id: string, input: ApiServerInput, mask: string[], etag: string) => (await checkUpdate(id, input, mask, etag, store)).next,
    delete: remove,
    warm,
    invalidate,
    cacheStats: byAudience.stats,
  };
}

/**
 * The change an API server write records: its id, identifier and audiences
 * (every cache key it may be under), its permissions (a removed one leaves
 * every token of it), and what kind of change.
 */
function change(server: ApiServer, time: number, detail: Record<string, unknown>) {
  return {
    kind: "api_server" as const,
    id: server.id,
    time,
    detail: { identifier: server.identifier, audiences: [server.identifier, ...server.audiences], permissions: server.permissions.map((p) => p.value), ...detail },
  };
}

export type ApiServers = ReturnType<typeof createApiServers>;

export function etagOfApiServer(server: ApiServer): string {
  return etagOf(server.id, server.version);
}

/**
 * The built-in management API server guards the management API itself, so
 * only its description may change: dynamic client access would hand
 * management scopes to anonymous registrants; the permission cascade would
 * strip a removed permission from every grant, the admin's included, with no
 * way back; a longer lifetime or another dialect or algorithm changes what its
 * tokens are. (Its lifetime stays the migration's one hour.)
 */
function checkSystemUpdate(mask: string[]): void {
  const refused = mask.filter((path) => !SYSTEM_UPDATABLE.has(path));
  if (refused.length > 0) {
    throw new FailedPrecondition(`the built-in management API server is immutable but for its description; refused: ${refused.join(", ")}`);
  }
}

/** Reserved-namespace check, case-insensitive: URN schemes and namespace ids are (RFC 8141 §3.1), so URN:AUTHZ: is the same namespace. */
function isReserved(value: string): boolean {
  return value.toLowerCase().startsWith(RESERVED_IDENTIFIER_PREFIX);
}

function checkIdentifier(identifier: string, v: Violations, field: string, system: boolean): void {
  if (!identifier) v.add(field, "is required");
  else if (!AUDIENCE.test(identifier)) v.add(field, "must be 1..600 visible ASCII characters without spaces");
  else if (!system && isReserved(identifier)) v.add(field, `the ${RESERVED_IDENTIFIER_PREFIX} namespace is reserved`);
}

type ValidatedFields = Omit<ApiServer, "seq" | "id" | "identifier" | "system" | "createTime" | "updateTime" | "version">;

/** Checks every settable field (all violations at once) and applies defaults. */
function validate(input: ApiServerInput, v: Violations, prefix: string): ValidatedFields {
  const name = checkName(input.name, v, `${prefix}name`);

  if (input.audiences.length > 20) v.add(`${prefix}audiences`, "must have at most 20 entries");
  const seenAudiences = new Set<string>();
  input.audiences.forEach((a, i) => {
    if (!AUDIENCE.test(a)) v.add(`${prefix}audiences[${i}]`, "must be 1..600 visible ASCII characters without spaces");
    else if (a === input.identifier) v.add(`${prefix}audiences[${i}]`, "must not repeat the identifier");
    else if (isReserved(a)) v.add(`${prefix}audiences[${i}]`, `the ${RESERVED_IDENTIFIER_PREFIX} namespace is reserved`);
    else if (seenAudiences.has(a)) v.add(`${prefix}audiences[${i}]`, "is a duplicate");
    seenAudiences.add(a);
  });

  if (input.description.length > 2000) v.add(`${prefix}description`, "must be at most 2,000 characters");

  if (input.permissions.length > 500) v.add(`${prefix}permissions`, "must have at most 500 entries");
  const values = new Set<string>();
  input.permissions.forEach((p, i) => {
    if (!p.value || p.value.length > 280 || !SCOPE_TOKEN.test(p.value)) {
      v.add(`${prefix}permissions[${i}].value`, "must be 1..280 characters of RFC 6749 scope-token syntax (no spaces, quotes or backslashes), e.g. orders:read");
    } else if (values.has(p.value)) v.add(`${prefix}permissions[${i}].value`, `duplicate permission ${JSON.stringify(p.value)}`);
    values.add(p.value);
    if (p.description.length > 500) v.add(`${prefix}permissions[${i}].description`, "must be at most 500 characters");
  });

  const signingAlg = input.signingAlg ?? "ES256";
  if (!SIGNING_ALGS.includes(signingAlg as SigningAlg)) v.add(`${prefix}signing_alg`, `must be one of ${SIGNING_ALGS.join(", ")}`);
  const tokenDialect = input.tokenDialect ?? "access_token";
  if (!TOKEN_DIALECTS.includes(tokenDialect as TokenDialect)) v.add(`${prefix}token_dialect`, "must be ACCESS_TOKEN or ACCESS_TOKEN_AUTHZ");

  const senderConstraint = input.senderConstraint ?? "none";
  if (!SENDER_CONSTRAINTS.includes(senderConstraint as SenderConstraint)) v.add(`${prefix}sender_constraint`, "must be MTLS, DPOP or unspecified");

  const lifetime = lifetimeOf(input, v, prefix);
  const tokenLifetimeSeconds = lifetime.seconds || DEFAULT_TOKEN_LIFETIME_SECONDS;
  if (!inRange(tokenLifetimeSeconds, TOKEN_LIFETIME)) v.add(lifetime.field, `must be ${TOKEN_LIFETIME.min}..${TOKEN_LIFETIME.max} (0 for the default)`);
  const refreshTokenLifetimeSeconds = input.refreshTokenLifetimeSeconds || DEFAULT_REFRESH_TOKEN_LIFETIME_SECONDS;
  if (!inRange(refreshTokenLifetimeSeconds, REFRESH_LIFETIME)) {
    v.add(`${prefix}refresh_token_lifetime_seconds`, `must be ${REFRESH_LIFETIME.min}..${REFRESH_LIFETIME.max} (0 for the default)`);
  }

  const dynamicClientScopes = [...new Set(input.dynamicClientScopes)];
  input.dynamicClientScopes.forEach((s, i) => {
    if (!values.has(s)) v.add(`${prefix}dynamic_client_scopes[${i}]`, `${JSON.stringify(s)} is not one of the API server's permissions`);
  });

  return {
    name,
    audiences: input.audiences,
    description: input.description,
    permissions: input.permissions.map((p) => ({ value: p.value, description: p.description })),
    signingAlg: signingAlg as SigningAlg,
    tokenLifetimeSeconds,
    tokenDialect: tokenDialect as TokenDialect,
    enforcePolicies: input.enforcePolicies,
    allowOfflineAccess: input.allowOfflineAccess,
    refreshTokenLifetimeSeconds,
    skipConsent: input.skipConsent,
    dynamicClientAccess: input.dynamicClientAccess,
    dynamicClientScopes,
    senderConstraint: senderConstraint as SenderConstraint,
  };
}

/**
 * token_lifetime_seconds, or its alias token_lifetime (0 is not given for
 * either), with the field it came from (so a violation names what the caller
 * sent); both given and different is a violation on the alias.
 */
function lifetimeOf(input: ApiServerInput, v: Violations, prefix: string): { seconds: number; field: string } {
  const seconds = input.tokenLifetimeSeconds;
  const alias = input.tokenLifetime ?? 0;
  if (seconds && alias && seconds !== alias) v.add(`${prefix}token_lifetime`, "is token_lifetime_seconds by another name: set one of them, or both to the same value");
  return seconds || !alias ? { seconds, field: `${prefix}token_lifetime_seconds` } : { seconds: alias, field: `${prefix}token_lifetime` };
}

function inRange(n: number, r: { min: number; max: number }): boolean {
  return Number.isInteger(n) && n >= r.min && n <= r.max;
}

function toInput(s: ApiServer): ApiServerInput {
  return { ...s };
}
