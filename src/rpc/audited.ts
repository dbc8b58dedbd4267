import type { Audit } from "../domain/audit.js";
import type { Actor } from "../domain/ceiling.js";
import type { DomainTx } from "../domain/ports.js";
import type { CallContext } from "../pipeline/context.js";

/**
 * Runs a write in a transaction with its audit event: both commit, or
 * neither (a refused or failed write leaves no row and no change). The actor
 * is the caller's client id.
 */
export function audited<T>(audit: Audit, ctx: CallContext, resourceType: string, write: (tx: DomainTx) => Promise<T>, resourceIdOf: (result: T) => string): Promise<T> {
  return audit.record({ actor: ctx.principal?.clientId ?? "", method: ctx.method.slice(1), resourceType }, write, resourceIdOf);
}

/** The caller of a protected RPC as the domain's actor (the access step guarantees a principal). */
export function actorOf(ctx: CallContext): Actor {
  if (!ctx.principal) throw new Error(`${ctx.method}: no principal (is the method public?)`);
  return ctx.principal;
}
