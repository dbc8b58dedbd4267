import type { Clock } from "../clock.js";
import type { Store } from "../store/repositories.js";
import { InvalidArgument } from "./errors.js";
import { newId } from "./ids.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page } from "./listing.js";

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
export function createAudit(deps: { store: Store; clock: Clock }) {
  const { store, clock } = deps;

  function record<T>(write: AuditWrite, run: () => T, resourceIdOf: (result: T) => string): T {
    return store.transaction(() => {
      const result = run();
      store.audit.append({
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

  function list(pageSize: number, pageToken: string, filter: Omit<AuditQuery, "beforeSeq" | "limit">): Page<AuditEvent> {
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
      throw new InvalidArgument([{ field: "page_size", description: `must be between 0 and ${MAX_PAGE_SIZE}` }]);
    }
    if (filter.startTime !== undefined && filter.endTime !== undefined && filter.startTime >= filter.endTime) {
      throw new InvalidArgument([{ field: "end_time", description: "must be after start_time" }]);
    }
    const size = pageSize || DEFAULT_PAGE_SIZE;
    const beforeSeq = pageToken ? decodeToken(pageToken) : Number.MAX_SAFE_INTEGER;
    const rows = store.audit.list({ ...filter, beforeSeq, limit: size + 1 });
    const items = rows.slice(0, size);
    const last = items[items.length - 1];
    return { items, nextPageToken: rows.length > size && last ? Buffer.from(`a.${last.seq}`).toString("base64url") : "" };
  }

  return { record, list };
}

export type Audit = ReturnType<typeof createAudit>;

function decodeToken(token: string): number {
  const m = /^a\.(\d{1,15})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!m) throw new InvalidArgument([{ field: "page_token", description: "is not a token this service issued" }]);
  return Number(m[1]);
}
