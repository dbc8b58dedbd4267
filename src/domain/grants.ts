import type { Clock } from "../clock.js";
import type { ApiServer } from "./api_servers.js";
import type { Actor, Ceiling } from "./ceiling.js";
import { CLIENT_ID, MANAGEMENT_API_SERVER_ID, RESOURCE_ID } from "./constants.js";
import { Aborted, NotFound, Violations } from "./errors.js";
import { checkClientId, checkResourceId, etagOf, newId } from "./ids.js";
import { approximateSize, lookupCache } from "./cache.js";
import { stepFor, warmFrom } from "./warm.js";
import { checkEtag, checkUpdateMask } from "./mutation.js";
import { pageQuery, toPage, type Page } from "./listing.js";
import type { DomainData, DomainTx } from "./ports.js";

export interface Grant {
  seq: number;
  id: string;
  clientId: string;
  apiServerId: string;
  scopes: string[];
  allowAllScopes: boolean;
  createTime: number;
  updateTime: number;
  version: number;
}

export interface GrantInput {
  clientId: string;
  apiServerId: string;
  scopes: string[];
  allowAllScopes: boolean;
}

const UPDATABLE = new Set(["scopes", "allow_all_scopes"]);

export interface GrantsDeps {
  /** Reads outside transactions. */
  store: Pick<DomainData, "grants">;
  clock: Clock;
  ceiling: Ceiling;
  cacheMaxBytes: number;
}

/**
 * Grants: which client may get tokens for which API server, with which scopes.
 * Lookups by (client, API server) are cached for the token endpoint — the
 * absence of a grant too: it is asked only after the client authenticated, so
 * the keys are real clients' — and kept coherent by the change feed
 * (`invalidate`), including cascades from API server and client deletes.
 */
export function createGrants(deps: GrantsDeps) {
  const { store, clock, ceiling } = deps;
  const cache = lookupCache(
    async (key) => {
      const [clientId, apiServerId] = key.split("\n") as [string, string];
      return { grant: (await store.grants.findByPair(clientId, apiServerId)) ?? null };
    },
    { maxBytes: deps.cacheMaxBytes, sizeOf: approximateSize },
  );

  async function get(id: string, from: Pick<DomainData, "grants"> = store): Promise<Grant> {
    checkResourceId(id, "id");
    const grant = await from.grants.get(id);
    if (!grant) throw new NotFound("grant", id);
    return grant;
  }

  async function create(input: GrantInput, actor: Actor, tx: DomainTx): Promise<Grant> {
    const v = new Violations();
    if (!input.clientId) v.add("grant.client_id", "is required");
    else if (!CLIENT_ID.test(input.clientId)) v.add("grant.client_id", "is not a client id");
    else if (!(await tx.clients.get(input.clientId))) v.add("grant.client_id", `no client ${JSON.stringify(input.clientId)}`);
    const validServerId = RESOURCE_ID.test(input.apiServerId);
    // The permissions the scopes are checked against stay as read until this commits (an update removing one waits).
    if (validServerId) await tx.lockPermissions(input.apiServerId);
    const apiServer = validServerId ? await tx.apiServers.get(input.apiServerId) : undefined;
    if (!input.apiServerId) v.add("grant.api_server_id", "is required");
    else if (!validServerId) v.add("grant.api_server_id", "is not an API server id");
    else if (!apiServer) v.add("grant.api_server_id", `no API server ${JSON.stringify(input.apiServerId)}`);
    const scopes = checkScopes(input, apiServer, v);
    v.throwIfAny();
    if (input.apiServerId === MANAGEMENT_API_SERVER_ID) await ceiling.checkManagementGrant(actor, tx, { scopes, allowAllScopes: input.allowAllScopes });
    const now = clock.now();
    const grant = await tx.grants.insert({ seq: 0, id: newId("gr"), clientId: input.clientId, apiServerId: input.apiServerId, scopes, allowAllScopes: input.allowAllScopes, createTime: now, updateTime: now, version: 1 });
    await tx.changes.append(change(grant, apiServer!, now, {}));
    return grant;
  }

  async function list(pageSize: number, pageToken: string, filter: { clientId: string; apiServerId: string }): Promise<Page<Grant>> {
    if (filter.clientId) checkClientId(filter.clientId, "client_id");
    if (filter.apiServerId) checkResourceId(filter.apiServerId, "api_server_id");
    // The page token is bound to the selection through this string (JSON, so
    // no pair of ids can encode the same as another pair).
    const boundTo = JSON.stringify({ client_id: filter.clientId, api_server_id: filter.apiServerId });
    const query = pageQuery(pageSize, pageToken, boundTo);
    return toPage(await store.grants.list(query, filter), query, boundTo);
  }

  async function update(id: string, input: GrantInput, mask: string[], etag: string, actor: Actor, tx: DomainTx): Promise<Grant> {
    const v = new Violations();
    checkUpdateMask(mask, v, { updatable: UPDATABLE, immutable: ["client_id", "api_server_id"], outputOnly: ["id", "create_time", "update_time", "etag"] });
    v.throwIfAny();
    const current = await get(id, tx);
    checkEtag(etag, etagOfGrant(current), "grant");
    const merged: GrantInput = {
      ...current,
      scopes: mask.includes("scopes") ? input.scopes : current.scopes,
      allowAllScopes: mask.includes("allow_all_scopes") ? input.allowAllScopes : current.allowAllScopes,
    };
    await tx.lockPermissions(current.apiServerId); // as in create
    const apiServer = (await tx.apiServers.get(current.apiServerId))!; // the grant's API server exists (the foreign key)
    const scopes = checkScopes(merged, apiServer, v);
    v.throwIfAny();
    const next: Grant = { ...current, scopes, allowAllScopes: merged.allowAllScopes, updateTime: clock.now(), version: current.version + 1 };
    if (current.apiServerId === MANAGEMENT_API_SERVER_ID) {
      await ceiling.checkManagementGrant(actor, tx, current, next);
      await ceiling.checkKeepsAnAdmin(current.clientId, next.allowAllScopes ? await ceiling.allPermissions(tx) : next.scopes, tx);
    }
    if (!(await tx.grants.update(next))) throw new Aborted("the grant changed concurrently; read it again");
    // Narrowed: tokens already issued keep only what the grant allows now (the watch tells resource servers).
    const allowed = new Set(allowedBy(next, apiServer));
    const narrowed = allowedBy(current, apiServer).some((s) => !allowed.has(s));
    await tx.changes.append(change(next, apiServer, next.updateTime, narrowed ? { reason: "grant_narrowed", scopes: [...allowed] } : {}));
    return next;
  }

  async function remove(id: string, etag: string, actor: Actor, tx: DomainTx): Promise<void> {
    const current = await get(id, tx);
    checkEtag(etag, etagOfGrant(current), "grant");
    if (current.apiServerId === MANAGEMENT_API_SERVER_ID) {
      await ceiling.checkManagementGrant(actor, tx, current);
      await ceiling.checkKeepsAnAdmin(current.clientId, [], tx);
    }
    const apiServer = (await tx.apiServers.get(current.apiServerId))!;
    // On the version read: what was checked is what goes (a write committed meanwhile makes this one retry).
    if (!(await tx.grants.delete(id, current.version))) throw new Aborted("the grant changed concurrently; read it again");
    const now = clock.now();
    await tx.changes.append(change(current, apiServer, now, { deleted: true, reason: "grant_deleted", tokensValidAfter: now }));
  }

  /**
   * The scopes a client may get for an API server: its grant's (all current
   * permissions for allow_all_scopes), or — for dynamically registered clients
   * without a grant — the API server's dynamic client scopes when it allows
   * dynamic client access. A grant wins over dynamic access. `since`: when the
   * grant was made (tokens issued before it are not covered). Undefined: no access.
   */
  async function resolveAccess(client: { clientId: string; dynamic: boolean }, apiServer: ApiServer): Promise<{ scopes: string[]; since: number } | undefined> {
    const { grant } = (await cache.get(`${client.clientId}\n${apiServer.id}`))!;
    if (grant) return { scopes: allowedBy(grant, apiServer), since: grant.createTime };
    if (client.dynamic && apiServer.dynamicClientAccess) return { scopes: apiServer.dynamicClientScopes, since: 0 };
    return undefined;
  }

  /** Fills the cache with every grant while the budget lasts (start-up, background; see clients' warm). */
  function warm(stopped?: () => boolean): Promise<number> {
    return warmFrom(
      (query) => store.grants.list(query, { clientId: "", apiServerId: "" }),
      cache.epoch,
      (rows, at) => stepFor(cache.prime(rows.map((grant) => [`${grant.clientId}\n${grant.apiServerId}`, { grant }] as const), at)),
      stopped,
    );
  }

  /** A change from this replica or another (the change feed): drops the cached grants of a pair, a client or an API server. */
  function invalidate(of: { clientId?: string; apiServerId?: string }): void {
    // One pair (a grant's own change): one key, not a scan of every cached grant.
    if (of.clientId !== undefined && of.apiServerId !== undefined) return cache.delete(`${of.clientId}\n${of.apiServerId}`);
    cache.deleteWhere((key) => {
      const [clientId, apiServerId] = key.split("\n");
      return (of.clientId === undefined || of.clientId === clientId) && (of.apiServerId === undefined || of.apiServerId === apiServerId);
    });
  }

  return { create, get, list, update, delete: remove, resolveAccess, warm, invalidate, cacheStats: cache.stats };
}

/** The scopes a grant allows on its API server now: never one the API server no longer defines. */
function allowedBy(grant: Grant, apiServer: ApiServer): string[] {
  if (grant.allowAllScopes) return apiServer.permissions.map((p) => p.value);
  // Removing a permission removes it from every grant (removeScopes), and
  // grant writes take turns with it (lockPermissions); a row written before
  // they did (a grant on another replica while the permission went) can
  // still name it, and yields nothing for it.
  const defined = definedScopes(apiServer);
  return grant.scopes.every((s) => defined.has(s)) ? grant.scopes : grant.scopes.filter((s) => defined.has(s));
}

/** An API server's permission values as a set, made once per cached API server object. */
const definedSets = new WeakMap<ApiServer, ReadonlySet<string>>();
function definedScopes(apiServer: ApiServer): ReadonlySet<string> {
  let set = definedSets.get(apiServer);
  if (!set) definedSets.set(apiServer, (set = new Set(apiServer.permissions.map((p) => p.value))));
  return set;
}

/** The change a grant write records: the pair (the cache key) and the audience its tokens carry. */
function change(grant: Grant, apiServer: ApiServer, time: number, detail: Record<string, unknown>) {
  return { kind: "grant" as const, id: grant.id, time, detail: { clientId: grant.clientId, apiServerId: grant.apiServerId, audience: apiServer.identifier, ...detail } };
}

export type Grants = ReturnType<typeof createGrants>;

export function etagOfGrant(g: Grant): string {
  return etagOf(g.id, g.version);
}

function checkScopes(input: GrantInput, apiServer: ApiServer | undefined, v: Violations): string[] {
  if (input.allowAllScopes && input.scopes.length > 0) v.add("grant.scopes", "must be empty when allow_all_scopes is set");
  if (!apiServer) return input.scopes;
  const defined = new Set(apiServer.permissions.map((p) => p.value));
  input.scopes.forEach((s, i) => {
    if (!defined.has(s)) v.add(`grant.scopes[${i}]`, `${JSON.stringify(s)} is not a permission of the API server`);
  });
  return [...new Set(input.scopes)];
}
