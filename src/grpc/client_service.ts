import {
  ClientServiceService,
  ClientType,
  TokenEndpointAuthMethod,
  type Client as PbClient,
  type ClientServiceServer,
} from "../../gen/authz/v1/client.js";
import type { Audit } from "../domain/audit.js";
import { etagOfClient, type AuthMethod, type Client, type ClientInput, type Clients } from "../domain/clients.js";
import type { Logger } from "../log.js";
import { audited } from "./audited.js";
import { enumFromDomain, enumToDomain, timestamp } from "./convert.js";
import { unary } from "./unary.js";

const AUTH_METHOD_NAMES: Record<number, AuthMethod> = {
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC]: "client_secret_basic",
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST]: "client_secret_post",
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT]: "private_key_jwt",
};
const TYPE_NAMES: Record<number, "m2m"> = { [ClientType.CLIENT_TYPE_M2M]: "m2m" };

export function clientService(clients: Clients, audit: Audit, logger: Logger) {
  const implementation: ClientServiceServer = {
    createClient: unary(logger, async (req, call) => {
      // Validation (jwks import) is async; the write and its audit row commit together.
      const prepared = await clients.prepareCreate(fromPb(req.client));
      const { client, secret } = audited(audit, "client", (_r, res: { client: Client; secret: string }) => res.client.clientId, () => clients.commitCreate(prepared))(req, call);
      return { client: toPb(client), clientSecret: secret };
    }),
    getClient: unary(logger, (req) => ({ client: toPb(clients.get(req.clientId)) })),
    listClients: unary(logger, (req) => {
      const page = clients.list(req.pageSize, req.pageToken, req.filter);
      return { clients: page.items.map(toPb), nextPageToken: page.nextPageToken };
    }),
    updateClient: unary(logger, async (req, call) => {
      const id = req.client?.clientId ?? "";
      const prepared = await clients.prepareUpdate(id, fromPb(req.client), req.updateMask ?? [], req.client?.etag ?? "");
      const client = audited(audit, "client", () => id, () => clients.commitUpdate(prepared))(req, call);
      return { client: toPb(client) };
    }),
    deleteClient: unary(
      logger,
      audited(audit, "client", (req) => req.clientId, (req) => {
        clients.delete(req.clientId, req.etag);
        return {};
      }),
    ),
    rotateClientSecret: unary(
      logger,
      audited(audit, "client", (req) => req.clientId, (req) => {
        const { client, secret } = clients.rotateSecret(req.clientId, req.gracePeriodSeconds);
        return { client: toPb(client), clientSecret: secret };
      }),
    ),
  };
  return { definition: ClientServiceService, implementation };
}

function fromPb(pb: PbClient | undefined): ClientInput {
  return {
    name: pb?.name ?? "",
    description: pb?.description ?? "",
    type: enumToDomain(pb?.type ?? 0, TYPE_NAMES),
    tokenEndpointAuthMethod: enumToDomain(pb?.tokenEndpointAuthMethod ?? 0, AUTH_METHOD_NAMES),
    grantTypes: pb?.grantTypes ?? [],
    disabled: pb?.disabled ?? false,
    metadata: pb?.metadata ?? {},
    jwks: pb?.jwks,
  };
}

/** Never includes secret values: only their ids and dates. */
export function toPb(c: Client): PbClient {
  return {
    clientId: c.clientId,
    name: c.name,
    description: c.description,
    type: ClientType.CLIENT_TYPE_M2M,
    tokenEndpointAuthMethod: enumFromDomain(c.tokenEndpointAuthMethod, AUTH_METHOD_NAMES),
    grantTypes: c.grantTypes,
    disabled: c.disabled,
    dynamic: c.dynamic,
    metadata: c.metadata,
    jwks: c.jwks as PbClient["jwks"],
    secrets: c.secrets.map((s) => ({ id: s.id, createTime: timestamp(s.createTime), expireTime: s.expireTime === null ? undefined : timestamp(s.expireTime) })),
    usage: { tokensIssued: c.tokensIssued, lastIssueTime: c.lastIssueTime === null ? undefined : timestamp(c.lastIssueTime) },
    createTime: timestamp(c.createTime),
    updateTime: timestamp(c.updateTime),
    etag: etagOfClient(c),
  };
}
