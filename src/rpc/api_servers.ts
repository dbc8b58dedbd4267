import { ApiServerServiceService, type ApiServer as PbApiServer, type ApiServerServiceServer } from "../../gen/authz/v1/api_server.js";
import { etagOfApiServer, type ApiServer, type ApiServerInput, type ApiServers } from "../domain/api_servers.js";
import type { Audit } from "../domain/audit.js";
import { audited } from "./audited.js";
import { enumFromDomain, enumToDomain, SENDER_CONSTRAINT, SIGNING_ALG, TOKEN_DIALECT } from "./convert/enums.js";
import { timestamp } from "./convert/time.js";
import { bindService } from "./service.js";

/**
 * ApiServerService: decode, call the domain, encode. `validate_only`
 * (AIP-163) runs the domain's checks without a transaction or an audit event:
 * nothing is written, so there is nothing to audit.
 */
export function apiServerService(apiServers: ApiServers, audit: Audit) {
  return bindService<ApiServerServiceServer>(ApiServerServiceService, {
    createApiServer: async (req, ctx) => {
      if (req.validateOnly) return { apiServer: toPb(apiServers.checkCreate(fromPb(req.apiServer))) };
      return { apiServer: toPb(await audited(audit, ctx, "api_server", (tx) => apiServers.create(fromPb(req.apiServer), tx), (s) => s.id)) };
    },
    getApiServer: async (req) => ({ apiServer: toPb(await apiServers.get(req.id)) }),
    listApiServers: async (req) => {
      const page = await apiServers.list(req.pageSize, req.pageToken, req.filter);
      return { apiServers: page.items.map(toPb), nextPageToken: page.nextPageToken };
    },
    updateApiServer: async (req, ctx) => {
      const server = req.apiServer;
      const id = server?.id ?? "";
      if (req.validateOnly) return { apiServer: toPb(await apiServers.checkUpdate(id, fromPb(server), req.updateMask ?? [], server?.etag ?? "")) };
      return { apiServer: toPb(await audited(audit, ctx, "api_server", (tx) => apiServers.update(id, fromPb(server), req.updateMask ?? [], server?.etag ?? "", tx), () => id)) };
    },
    deleteApiServer: async (req, ctx) => {
      await audited(audit, ctx, "api_server", (tx) => apiServers.delete(req.id, req.etag, tx), () => req.id);
      return {};
    },
  });
}

function fromPb(pb: PbApiServer | undefined): ApiServerInput {
  return {
    name: pb?.name ?? "",
    identifier: pb?.identifier ?? "",
    audiences: pb?.audiences ?? [],
    description: pb?.description ?? "",
    permissions: (pb?.permissions ?? []).map((p) => ({ value: p.value, description: p.description })),
    signingAlg: enumToDomain(pb?.signingAlg ?? 0, SIGNING_ALG),
    tokenLifetimeSeconds: pb?.tokenLifetimeSeconds ?? 0,
    tokenLifetime: pb?.tokenLifetime ?? 0,
    tokenDialect: enumToDomain(pb?.tokenDialect ?? 0, TOKEN_DIALECT),
    enforcePolicies: pb?.enforcePolicies ?? false,
    allowOfflineAccess: pb?.allowOfflineAccess ?? false,
    refreshTokenLifetimeSeconds: pb?.refreshTokenLifetimeSeconds ?? 0,
    skipConsent: pb?.skipConsent ?? false,
    dynamicClientAccess: pb?.dynamicClientAccess ?? false,
    dynamicClientScopes: pb?.dynamicClientScopes ?? [],
    senderConstraint: enumToDomain(pb?.senderConstraint ?? 0, SENDER_CONSTRAINT) ?? "none",
  };
}

export function toPb(s: ApiServer): PbApiServer {
  return {
    id: s.id,
    name: s.name,
    identifier: s.identifier,
    audiences: s.audiences,
    description: s.description,
    permissions: s.permissions,
    signingAlg: enumFromDomain(s.signingAlg, SIGNING_ALG),
    tokenLifetimeSeconds: s.tokenLifetimeSeconds,
    // The alias carries the same value, so a caller reading either spelling sees the lifetime.
    tokenLifetime: s.tokenLifetimeSeconds,
    tokenDialect: enumFromDomain(s.tokenDialect, TOKEN_DIALECT),
    enforcePolicies: s.enforcePolicies,
    allowOfflineAccess: s.allowOfflineAccess,
    refreshTokenLifetimeSeconds: s.refreshTokenLifetimeSeconds,
    skipConsent: s.skipConsent,
    dynamicClientAccess: s.dynamicClientAccess,
    senderConstraint: enumFromDomain(s.senderConstraint, SENDER_CONSTRAINT),
    dynamicClientScopes: s.dynamicClientScopes,
    createTime: timestamp(s.createTime),
    updateTime: timestamp(s.updateTime),
    // A validate_only preview has no id, so no etag either.
    etag: s.id ? etagOfApiServer(s) : "",
    system: s.system,
  };
}
