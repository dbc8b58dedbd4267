import { GrantServiceService, type Grant as PbGrant, type GrantServiceServer } from "../../gen/authz/v1/grant.js";
import type { Audit } from "../domain/audit.js";
import { etagOfGrant, type Grant, type GrantInput, type Grants } from "../domain/grants.js";
import type { Logger } from "../log.js";
import { audited } from "./audited.js";
import { timestamp } from "./convert.js";
import { unary } from "./unary.js";

export function grantService(grants: Grants, audit: Audit, logger: Logger) {
  const implementation: GrantServiceServer = {
    createGrant: unary(logger, audited(audit, "grant", (_req, res) => res.grant!.id, (req) => ({ grant: toPb(grants.create(fromPb(req.grant))) }))),
    getGrant: unary(logger, (req) => ({ grant: toPb(grants.get(req.id)) })),
    listGrants: unary(logger, (req) => {
      const page = grants.list(req.pageSize, req.pageToken, { clientId: req.clientId, apiServerId: req.apiServerId });
      return { grants: page.items.map(toPb), nextPageToken: page.nextPageToken };
    }),
    updateGrant: unary(
      logger,
      audited(audit, "grant", (req) => req.grant?.id ?? "", (req) => {
        const grant = grants.update(req.grant?.id ?? "", fromPb(req.grant), req.updateMask ?? [], req.grant?.etag ?? "");
        return { grant: toPb(grant) };
      }),
    ),
    deleteGrant: unary(
      logger,
      audited(audit, "grant", (req) => req.id, (req) => {
        grants.delete(req.id, req.etag);
        return {};
      }),
    ),
  };
  return { definition: GrantServiceService, implementation };
}

function fromPb(pb: PbGrant | undefined): GrantInput {
  return { clientId: pb?.clientId ?? "", apiServerId: pb?.apiServerId ?? "", scopes: pb?.scopes ?? [], allowAllScopes: pb?.allowAllScopes ?? false };
}

function toPb(g: Grant): PbGrant {
  return {
    id: g.id,
    clientId: g.clientId,
    apiServerId: g.apiServerId,
    scopes: g.scopes,
    allowAllScopes: g.allowAllScopes,
    createTime: timestamp(g.createTime),
    updateTime: timestamp(g.updateTime),
    etag: etagOfGrant(g),
  };
}
