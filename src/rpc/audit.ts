import { AuditServiceService, type AuditEvent as PbAuditEvent, type AuditServiceServer } from "../../gen/authz/v1/audit.js";
import type { Audit, AuditEvent } from "../domain/audit.js";
import { epochMs, timestamp } from "./convert/time.js";
import { bindService } from "./service.js";

export function auditService(audit: Audit) {
  return bindService<AuditServiceServer>(AuditServiceService, {
    listAuditEvents: async (req) => {
      const page = await audit.list(req.pageSize, req.pageToken, {
        actor: req.actor || undefined,
        resourceId: req.resourceId || undefined,
        startTime: epochMs(req.startTime),
        endTime: epochMs(req.endTime),
      });
      return { events: page.items.map(toPb), nextPageToken: page.nextPageToken };
    },
  });
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
