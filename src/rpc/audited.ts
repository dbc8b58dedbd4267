import type { Audit } from "../domain/audit.js";
import type { Actor } from "../domain/ceiling.js";
import type { CallContext } from "../pipeline/context.js";

/**
 * Runs a write so the change and its audit event commit in one transaction:
 * a refused or failed write leaves neither. The actor is the caller's client id.
 */
export function audited<T>(audit: Audit, ctx: CallContext, resourceType: string, write: () => T, resourceIdOf: (result: T) => string): T {
  return audit.record({ actor: ctx.principal?.clientId ?? "", method: ctx.method.slice(1), resourceType }, write, resourceIdOf);
}

/** The caller of a protected RPC as the domain's actor (the access step guarantees a principal). */
export function actorOf(ctx: CallContext): Actor {
  if (!ctx.principal) throw new Error(`${ctx.method}: no principal (is the method public?)`);
  return ctx.principal;
}
