import {
  ApiServerServiceService,
  TokenDialect as PbTokenDialect,
  type ApiServer as PbApiServer,
  type ApiServerServiceServer,
} from "../../gen/authz/v1/api_server.js";
import { SigningAlg as PbSigningAlg } from "../../gen/authz/v1/common.js";
import { etagOfApiServer, type ApiServer, type ApiServerInput, type ApiServers, type SigningAlg, type TokenDialect } from "../domain/api_servers.js";
import type { Audit } from "../domain/audit.js";
import type { Logger } from "../log.js";
import { audited } from "./audited.js";
import { enumFromDomain, enumToDomain, timestamp } from "./convert.js";
import { unary } from "./unary.js";

export const SIGNING_ALG_NAMES: Record<number, SigningAlg> = {
  [PbSigningAlg.SIGNING_ALG_ES256]: "ES256",
  [PbSigningAlg.SIGNING_ALG_RS256]: "RS256",
  [PbSigningAlg.SIGNING_ALG_EDDSA]: "EdDSA",
};
const TOKEN_DIALECT_NAMES: Record<number, TokenDialect> = {
  [PbTokenDialect.TOKEN_DIALECT_ACCESS_TOKEN]: "access_token",
  [PbTokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ]: "access_token_authz",
};

export function apiServerService(apiServers: ApiServers, audit: Audit, logger: Logger) {
  const implementation: ApiServerServiceServer = {
    createApiServer: unary(logger, audited(audit, "api_server", (_req, res) => res.apiServer!.id, (req) => ({ apiServer: toPb(apiServers.create(fromPb(req.apiServer))) }))),
    getApiServer: unary(logger, (req) => ({ apiServer: toPb(apiServers.get(req.id)) })),
    listApiServers: unary(logger, (req) => {
      const page = apiServers.list(req.pageSize, req.pageToken, req.filter);
      return { apiServers: page.items.map(toPb), nextPageToken: page.nextPageToken };
    }),
    updateApiServer: unary(
      logger,
      audited(audit, "api_server", (req) => req.apiServer?.id ?? "", (req) => {
        const server = req.apiServer;
        return { apiServer: toPb(apiServers.update(server?.id ?? "", fromPb(server), req.updateMask ?? [], server?.etag ?? "")) };
      }),
    ),
    deleteApiServer: unary(
      logger,
      audited(audit, "api_server", (req) => req.id, (req) => {
        apiServers.delete(req.id, req.etag);
        return {};
      }),
    ),
  };
  return { definition: ApiServerServiceService, implementation };
}

function fromPb(pb: PbApiServer | undefined): ApiServerInput {
  return {
    name: pb?.name ?? "",
    identifier: pb?.identifier ?? "",
    audiences: pb?.audiences ?? [],
    description: pb?.description ?? "",
    permissions: (pb?.permissions ?? []).map((p) => ({ value: p.value, description: p.description })),
    signingAlg: enumToDomain(pb?.signingAlg ?? 0, SIGNING_ALG_NAMES),
    tokenLifetimeSeconds: pb?.tokenLifetimeSeconds ?? 0,
    tokenDialect: enumToDomain(pb?.tokenDialect ?? 0, TOKEN_DIALECT_NAMES),
    enforcePolicies: pb?.enforcePolicies ?? false,
    allowOfflineAccess: pb?.allowOfflineAccess ?? false,
    refreshTokenLifetimeSeconds: pb?.refreshTokenLifetimeSeconds ?? 0,
    skipConsent: pb?.skipConsent ?? false,
    dynamicClientAccess: pb?.dynamicClientAccess ?? false,
    dynamicClientScopes: pb?.dynamicClientScopes ?? [],
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
    signingAlg: enumFromDomain(s.signingAlg, SIGNING_ALG_NAMES),
    tokenLifetimeSeconds: s.tokenLifetimeSeconds,
    tokenDialect: enumFromDomain(s.tokenDialect, TOKEN_DIALECT_NAMES),
    enforcePolicies: s.enforcePolicies,
    allowOfflineAccess: s.allowOfflineAccess,
    refreshTokenLifetimeSeconds: s.refreshTokenLifetimeSeconds,
    skipConsent: s.skipConsent,
    dynamicClientAccess: s.dynamicClientAccess,
    dynamicClientScopes: s.dynamicClientScopes,
    createTime: timestamp(s.createTime),
    updateTime: timestamp(s.updateTime),
    etag: etagOfApiServer(s),
    system: s.system,
  };
}
