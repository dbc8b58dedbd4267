import type { DomainData, TransactionControl } from "./ports.js";
import { MANAGEMENT_API_SERVER_ID } from "./constants.js";
import { FailedPrecondition, PermissionDenied } from "./errors.js";

/** Who makes a management write: the caller's client id and its effective management permissions. */
export interface Actor {
  clientId: string;
  scopes: readonly string[];
}

/** The service acting on its own behalf (first-start bootstrap, the offline admin CLI): no ceiling applies. */
export const SYSTEM_ACTOR: Actor = Object.freeze({ clientId: "system", scopes: Object.freeze([]) });

/**
 * The management permission ceiling (DESIGN.md, Security model): no call may
 * give any client — the caller included — a management permission the caller
 * does not hold itself, nor take away the last way to administer the service.
 *
 * - Writes to a client (update, disable, delete, secret rotation) need the
 *   caller to hold every management permission that client holds: otherwise a
 *   `clients:write` caller could rotate the admin's secret and become the admin.
 * - Grants on the management API server need the caller to hold every scope
 *   the grant gives or had (`allow_all_scopes` = all of them): no widening of
 *   anyone's grant, one's own included, beyond the caller's own permissions.
 * - The last enabled client holding every management permission cannot be
 *   deleted, disabled, or have its management grant narrowed or deleted.
 */
export function createCeiling() {
  /** Every permission the management API server defines. */
  async function allPermissions(tx: Data): Promise<string[]> {
    return (await tx.apiServers.get(MANAGEMENT_API_SERVER_ID))?.permissions.map((p) => p.value) ?? [];
  }

  /** The management permissions a client holds through its grant (the management API server allows no dynamic access). */
  async function held(clientId: string, tx: Data): Promise<string[]> {
    const grant = await tx.grants.findByPair(clientId, MANAGEMENT_API_SERVER_ID);
    if (!grant) return [];
    return grant.allowAllScopes ? allPermissions(tx) : grant.scopes;
  }

  function missing(actor: Actor, wanted: readonly string[]): string[] {
    const have = new Set(actor.scopes);
    return [...new Set(wanted)].filter((p) => !have.has(p));
  }

  /** Refuses a write to `clientId` when that client holds management permissions the caller lacks. */
  async function checkClientWrite(actor: Actor, clientId: string, tx: Data): Promise<void> {
    if (actor === SYSTEM_ACTOR) return;
    const lacking = missing(actor, await held(clientId, tx));
    if (lacking.length > 0) {
      throw new PermissionDenied(`the client holds management permissions the caller lacks (${lacking.join(", ")}); only a caller holding them may change it`, lacking[0]);
    }
  }

  /** Refuses a management grant (its scopes before and after) that reaches beyond the caller's permissions. */
  async function checkManagementGrant(actor: Actor, tx: Data, ...scopeSets: Array<{ scopes: readonly string[]; allowAllScopes: boolean }>): Promise<void> {
    if (actor === SYSTEM_ACTOR) return;
    const all = await allPermissions(tx);
    const wanted = scopeSets.flatMap((s) => (s.allowAllScopes ? all : s.scopes));
    const lacking = missing(actor, wanted);
    if (lacking.length > 0) {
      throw new PermissionDenied(`a management grant may only give permissions the caller holds itself; the caller lacks ${lacking.join(", ")}`, lacking[0]);
    }
  }

  function covers(scopes: readonly string[], all: readonly string[]): boolean {
    const have = new Set(scopes);
    return all.length > 0 && all.every((p) => have.has(p));
  }

  /**
   * Refuses a change that would leave no enabled client holding every
   * management permission. `after` is what the client would hold (undefined
   * when it would be deleted or disabled). Runs in the writing transaction,
   * under the administrators lock, taken before anything is read: two such
   * changes at once (two replicas, each removing one of the last two) take
   * turns, and the second sees the first; without it both would read the
   * other as still there (READ COMMITTED) and both pass. Taken even when the
   * client is no full administrator (yet): a promotion committing after that
   * read must not let another change count on it.
   */
  async function checkKeepsAnAdmin(clientId: string, after: readonly string[] | undefined, tx: Data & TransactionControl): Promise<void> {
    await tx.lock("administrators");
    const all = await allPermissions(tx);
    if (!covers(await held(clientId, tx), all)) return;
    if (after !== undefined && covers(after, all)) return;
    for (const grant of await tx.grants.list({ terms: [], afterSeq: 0, limit: Number.MAX_SAFE_INTEGER }, { clientId: "", apiServerId: MANAGEMENT_API_SERVER_ID })) {
      if (grant.clientId === clientId || !covers(grant.allowAllScopes ? all : grant.scopes, all)) continue;
      const other = await tx.clients.get(grant.clientId);
      if (other && !other.disabled) return;
    }
    throw new FailedPrecondition("this is the last enabled client holding every management permission; create or enable another full administrator first");
  }

  return { held, allPermissions, checkClientWrite, checkManagementGrant, checkKeepsAnAdmin };
}

/** What the ceiling reads, in the writing transaction. */
type Data = Pick<DomainData, "apiServers" | "grants" | "clients">;

export type Ceiling = ReturnType<typeof createCeiling>;
