import { GrantServiceService, type Grant as PbGrant, type GrantServiceServer } from "../../gen/authz/v1/grant.js";
import type { Audit } from "../domain/audit.js";
import { etagOfGrant, type Grant, type GrantInput, type Grants } from "../domain/grants.js";
import { actorOf, audited } from "./audited.js";
import { timestamp } from "./convert/time.js";
import { bindService } from "./service.js";

export function grantService(grants: Grants, audit: Audit) {
  return bindService<GrantServiceServer>(GrantServiceService, {
    createGrant: async (req, ctx) => ({ grant: toPb(await audited(audit, ctx, "grant", (tx) => grants.create(fromPb(req.grant), actorOf(ctx), tx), (g) => g.id)) }),
    getGrant: async (req) => ({ grant: toPb(await grants.get(req.id)) }),
    listGrants: async (req) => {
      const page = await grants.list(req.pageSize, req.pageToken, { clientId: req.clientId, apiServerId: req.apiServerId });
      return { grants: page.items.map(toPb), nextPageToken: page.nextPageToken };
    },
    updateGrant: async (req, ctx) => {
      const id = req.grant?.id ?? "";
      return { grant: toPb(await audited(audit, ctx, "grant", (tx) => grants.update(id, fromPb(req.grant), req.updateMask ?? [], req.grant?.etag ?? "", actorOf(ctx), tx), () => id)) };
    },
    deleteGrant: async (req, ctx) => {
      await audited(audit, ctx, "grant", (tx) => grants.delete(req.id, req.etag, actorOf(ctx), tx), () => req.id);
      return {};
    },
  });
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
