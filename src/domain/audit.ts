import type { Clock } from "../clock.js";
import type { DomainStore, DomainTx } from "./ports.js";
import { InvalidArgument } from "./errors.js";
import { newId } from "./ids.js";
import { pageQuery, toPage, type Page } from "./listing.js";

export interface AuditEvent {
  seq: number;
  id: string;
  /** Milliseconds since the epoch. */
  time: number;
  actor: string;
  method: string;
  resourceType: string;
  resourceId: string;
  result: string;
}

export interface AuditQuery {
  actor?: string;
  resourceId?: string;
  /** Inclusive lower bound, ms. */
  startTime?: number;
  /** Exclusive upper bound, ms. */
  endTime?: number;
  /** Return events with seq below this (newest first). */
  beforeSeq: number;
  limit: number;
}

export interface AuditWrite {
  actor: string;
  method: string;
  resourceType: string;
}

/**
 * The audit trail of management writes. `record` runs a write and appends its
 * event in one transaction, so the log never claims a change that did not
 * happen and no change escapes the log.
 */
export function createAudit(deps: { store: Pick<DomainStore, "audit" | "transaction">; clock: Clock }) {
  const { store, clock } = deps;

  /** Runs `work` and appends its event in one transaction: both commit, or neither. */
  async function record<T>(write: AuditWrite, work: (tx: DomainTx) => Promise<T>, resourceIdOf: (result: T) => string): Promise<T> {
    return store.transaction(async (tx) => {
      const result = await work(tx);
      await tx.audit.append({
        seq: 0,
        id: newId("ev"),
        time: clock.now(),
        actor: write.actor,
        method: write.method,
        resourceType: write.resourceType,
        resourceId: resourceIdOf(result),
        result: "OK",
      });
      return result;
    });
  }

  /** Newest first: the page cursor is the last (oldest) row returned. */
  async function list(pageSize: number, pageToken: string, filter: Omit<AuditQuery, "beforeSeq" | "limit">): Promise<Page<AuditEvent>> {
    if (filter.startTime !== undefined && filter.endTime !== undefined && filter.startTime >= filter.endTime) {
      throw new InvalidArgument([{ field: "end_time", description: "must be after start_time" }]);
    }
    for (const [field, value] of [["actor", filter.actor], ["resource_id", filter.resourceId]] as const) {
      if (value !== undefined && value.length > 128) throw new InvalidArgument([{ field, description: "must be at most 128 characters" }]);
      if (value !== undefined && !/^[!-~]*$/.test(value)) throw new InvalidArgument([{ field, description: "must be visible ASCII (an id)" }]);
    }
    const boundTo = JSON.stringify(filter);
    const page = pageQuery(pageSize, pageToken, boundTo);
    const rows = await store.audit.list({ ...filter, beforeSeq: page.afterSeq || Number.MAX_SAFE_INTEGER, limit: page.limit });
    return toPage(rows, page, boundTo);
  }

  return { record, list };
}

export type Audit = ReturnType<typeof createAudit>;
