import type { Clock } from "../clock.js";
import type { Store } from "../store/repositories.js";
import type { ApiServer } from "./api_servers.js";
import type { Actor, Ceiling } from "./ceiling.js";
import { CLIENT_ID, MANAGEMENT_API_SERVER_ID, RESOURCE_ID } from "./constants.js";
import { Aborted, AlreadyExists, NotFound, Violations } from "./errors.js";
import { checkResourceId } from "./ids.js";
import { approximateSize, lookupCache } from "./cache.js";
import { etagOf, newId } from "./ids.js";
import { checkEtag, checkUpdateMask } from "./mutation.js";
import { pageQuery, toPage, type Page } from "./listing.js";

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

/**
 * Grants: which client may get tokens for which API server, with which scopes.
 * Lookups by (client, API server) are cached for the token endpoint and dropped
 * on every grant write; API server and client deletes cascade in the store and
 * call `forget`.
 */
export function createGrants(deps: { store: Store; clock: Clock; ceiling: Ceiling; cacheMaxBytes: number }) {
  const { store, clock, ceiling } = deps;
  const key = (clientId: string, apiServerId: string) => `${clientId}\n${apiServerId}`;
  const cache = lookupCache((k) => {
    const [clientId, apiServerId] = k.split("\n") as [string, string];
    return store.grants.findByPair(clientId, apiServerId);
  }, { maxBytes: deps.cacheMaxBytes, sizeOf: approximateSize });
  const find = (clientId: string, apiServerId: string) => cache.get(key(clientId, apiServerId));

  function get(id: string): Grant {
    checkResourceId(id, "id");
    const grant = store.grants.get(id);
    if (!grant) throw new NotFound("grant", id);
    return grant;
  }

  function create(input: GrantInput, actor: Actor): Grant {
    const v = new Violations();
    if (!input.clientId) v.add("grant.client_id", "is required");
    else if (!CLIENT_ID.test(input.clientId)) v.add("grant.client_id", "is not a client id");
    else if (!store.clients.get(input.clientId)) v.add("grant.client_id", `no client ${JSON.stringify(input.clientId)}`);
    const validServerId = RESOURCE_ID.test(input.apiServerId);
    const apiServer = validServerId ? store.apiServers.get(input.apiServerId) : undefined;
    if (!input.apiServerId) v.add("grant.api_server_id", "is required");
    else if (!validServerId) v.add("grant.api_server_id", "is not an API server id");
    else if (!apiServer) v.add("grant.api_server_id", `no API server ${JSON.stringify(input.apiServerId)}`);
    const scopes = checkScopes(input, apiServer, v);
    v.throwIfAny();
    if (input.apiServerId === MANAGEMENT_API_SERVER_ID) ceiling.checkManagementGrant(actor, { scopes, allowAllScopes: input.allowAllScopes });
    const now = clock.now();
    return store.transaction(() => {
      if (store.grants.findByPair(input.clientId, input.apiServerId)) throw new AlreadyExists("a grant for this client and API server already exists");
      const grant = store.grants.insert({ seq: 0, id: newId("gr"), clientId: input.clientId, apiServerId: input.apiServerId, scopes, allowAllScopes: input.allowAllScopes, createTime: now, updateTime: now, version: 1 });
      cache.delete(key(grant.clientId, grant.apiServerId));
      return grant;
    });
  }

  function list(pageSize: number, pageToken: string, filter: { clientId: string; apiServerId: string }): Page<Grant> {
    // The page token is bound to the selection through this string (JSON, so
    // no pair of ids can encode the same as another pair).
    const boundTo = JSON.stringify({ client_id: filter.clientId, api_server_id: filter.apiServerId });
    const query = pageQuery(pageSize, pageToken, boundTo);
    return toPage(store.grants.list(query, filter), query, boundTo);
  }

  function update(id: string, input: GrantInput, mask: string[], etag: string, actor: Actor): Grant {
    const v = new Violations();
    checkUpdateMask(mask, v, { updatable: UPDATABLE, immutable: ["client_id", "api_server_id"], outputOnly: ["id", "create_time", "update_time", "etag"] });
    v.throwIfAny();
    const current = get(id);
    checkEtag(etag, etagOfGrant(current), "grant");
    const merged: GrantInput = {
      ...current,
      scopes: mask.includes("scopes") ? input.scopes : current.scopes,
      allowAllScopes: mask.includes("allow_all_scopes") ? input.allowAllScopes : current.allowAllScopes,
    };
    const scopes = checkScopes(merged, store.apiServers.get(current.apiServerId), v);
    v.throwIfAny();
    const next: Grant = { ...current, scopes, allowAllScopes: merged.allowAllScopes, updateTime: clock.now(), version: current.version + 1 };
    if (current.apiServerId === MANAGEMENT_API_SERVER_ID) {
      ceiling.checkManagementGrant(actor, current, next);
      ceiling.checkKeepsAnAdmin(current.clientId, next.allowAllScopes ? ceiling.allPermissions() : next.scopes);
    }
    if (!store.grants.update(next)) throw new Aborted("the grant changed concurrently; read it again");
    cache.delete(key(next.clientId, next.apiServerId));
    return next;
  }

  function remove(id: string, etag: string, actor: Actor): void {
    const current = get(id);
    checkEtag(etag, etagOfGrant(current), "grant");
    if (current.apiServerId === MANAGEMENT_API_SERVER_ID) {
      ceiling.checkManagementGrant(actor, current);
      ceiling.checkKeepsAnAdmin(current.clientId, []);
    }
    store.grants.delete(id);
    cache.delete(key(current.clientId, current.apiServerId));
  }

  /**
   * The scopes a client may get for an API server: its grant's (all current
   * permissions for allow_all_scopes), or — for dynamically registered clients
   * without a grant — the API server's dynamic client scopes when it allows
   * dynamic client access. A grant wins over dynamic access. `since`: when the
   * grant was made (tokens issued before it are not covered). Undefined: no access.
   */
  function resolveAccess(client: { clientId: string; dynamic: boolean }, apiServer: ApiServer): { scopes: string[]; since: number } | undefined {
    const grant = find(client.clientId, apiServer.id);
    if (grant) return { scopes: grant.allowAllScopes ? apiServer.permissions.map((p) => p.value) : grant.scopes, since: grant.createTime };
    if (client.dynamic && apiServer.dynamicClientAccess) return { scopes: apiServer.dynamicClientScopes, since: 0 };
    return undefined;
  }

  /** Drops the cached grants of a client or an API server (after cascades and scope removals the store did in bulk). */
  function forget(of: { clientId?: string; apiServerId?: string }): void {
    cache.deleteWhere((_key, grant) => grant.clientId === of.clientId || grant.apiServerId === of.apiServerId);
  }

  return { create, get, list, update, delete: remove, resolveAccess, forget };
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
