import { AuditServiceService, type AuditEvent as PbAuditEvent, type AuditServiceServer } from "../../gen/authz/v1/audit.js";
import type { Audit, AuditEvent } from "../domain/audit.js";
import type { Logger } from "../log.js";
import { timestamp } from "./convert.js";
import { unary } from "./unary.js";

export function auditService(audit: Audit, logger: Logger) {
  const implementation: AuditServiceServer = {
    listAuditEvents: unary(logger, (req) => {
      const page = audit.list(req.pageSize, req.pageToken, {
        actor: req.actor || undefined,
        resourceId: req.resourceId || undefined,
        startTime: req.startTime ? Date.parse(req.startTime) : undefined,
        endTime: req.endTime ? Date.parse(req.endTime) : undefined,
      });
      return { events: page.items.map(toPb), nextPageToken: page.nextPageToken };
    }),
  };
  return { definition: AuditServiceService, implementation };
}

function toPb(e: AuditEvent): PbAuditEvent {
  return {
    id: e.id,
    time: timestamp(e.time),
    actor: e.actor,
    method: e.method,
    resourceType: e.resourceType,
    resourceId: e.resourceId,
    result: e.result,
  };
}
