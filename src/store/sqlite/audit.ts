import type { AuditEvent, AuditQuery } from "../../domain/audit.js";
import type { AuditRepository } from "../repositories.js";
import type { Db } from "./db.js";

interface Row {
  seq: number;
  id: string;
  time: number;
  actor: string;
  method: string;
  resource_type: string;
  resource_id: string;
  result: string;
}

export function sqliteAudit(db: Db): AuditRepository {
  const insert = db.prepare(`INSERT INTO audit_events (id, time, actor, method, resource_type, resource_id, result)
    VALUES (@id, @time, @actor, @method, @resourceType, @resourceId, @result)`);
  return {
    append: (e: AuditEvent) => void insert.run(e),
    list(q: AuditQuery): AuditEvent[] {
      const parts = ["seq < ?"];
      const params: unknown[] = [q.beforeSeq];
      if (q.actor) (parts.push("actor = ?"), params.push(q.actor));
      if (q.resourceId) (parts.push("resource_id = ?"), params.push(q.resourceId));
      if (q.startTime !== undefined) (parts.push("time >= ?"), params.push(q.startTime));
      if (q.endTime !== undefined) (parts.push("time < ?"), params.push(q.endTime));
      const rows = db.prepare(`SELECT * FROM audit_events WHERE ${parts.join(" AND ")} ORDER BY seq DESC LIMIT ?`).all(...params, q.limit) as Row[];
      return rows.map((r) => ({
        seq: r.seq,
        id: r.id,
        time: r.time,
        actor: r.actor,
        method: r.method,
        resourceType: r.resource_type,
        resourceId: r.resource_id,
        result: r.result,
      }));
    },
  };
}
