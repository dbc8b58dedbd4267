import type { AuditEvent } from "../../domain/audit.js";
import type { AuditRepository } from "../../domain/ports.js";
import type { SqlExecutor } from "./executor.js";

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

export function auditRepository(q: SqlExecutor): AuditRepository {
  return {
    async append(e: AuditEvent) {
      await q.run("INSERT INTO audit_events (id, time, actor, method, resource_type, resource_id, result) VALUES (?, ?, ?, ?, ?, ?, ?)", [e.id, e.time, e.actor, e.method, e.resourceType, e.resourceId, e.result]);
    },
    async list(query) {
      const parts = ["seq < ?"];
      const params: unknown[] = [query.beforeSeq];
      if (query.actor) (parts.push("actor = ?"), params.push(query.actor));
      if (query.resourceId) (parts.push("resource_id = ?"), params.push(query.resourceId));
      if (query.startTime !== undefined) (parts.push("time >= ?"), params.push(query.startTime));
      if (query.endTime !== undefined) (parts.push("time < ?"), params.push(query.endTime));
      const rows = await q.all<Row>(`SELECT * FROM audit_events WHERE ${parts.join(" AND ")} ORDER BY seq DESC LIMIT ?`, [...params, query.limit]);
      return rows.map((r) => ({
        seq: Number(r.seq),
        id: r.id,
        time: Number(r.time),
        actor: r.actor,
        method: r.method,
        resourceType: r.resource_type,
        resourceId: r.resource_id,
        result: r.result,
      }));
    },
  };
}
