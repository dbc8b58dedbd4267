import { ClientServiceService, ClientType, type Client as PbClient, type ClientServiceServer } from "../../gen/authz/v1/client.js";
import type { Audit } from "../domain/audit.js";
import { etagOfClient, type Client, type ClientInput, type Clients } from "../domain/clients.js";
import { actorOf, audited } from "./audited.js";
import { AUTH_METHOD, CLIENT_TYPE, enumFromDomain, enumToDomain } from "./convert/enums.js";
import { timestamp } from "./convert/time.js";
import { bindService } from "./service.js";

export function clientService(clients: Clients, audit: Audit) {
  return bindService<ClientServiceServer>(ClientServiceService, {
    createClient: async (req, ctx) => {
      const { client, secret } = await audited(audit, ctx, "client", (tx) => clients.create(fromPb(req.client), tx), (r) => r.client.clientId);
      return { client: toPb(client), clientSecret: secret };
    },
    getClient: async (req) => ({ client: toPb(await clients.get(req.clientId)) }),
    listClients: async (req) => {
      const page = await clients.list(req.pageSize, req.pageToken, req.filter);
      return { clients: page.items.map(toPb), nextPageToken: page.nextPageToken };
    },
    updateClient: async (req, ctx) => {
      const id = req.client?.clientId ?? "";
      const client = await audited(audit, ctx, "client", (tx) => clients.update(id, fromPb(req.client), req.updateMask ?? [], req.client?.etag ?? "", actorOf(ctx), tx), () => id);
      return { client: toPb(client) };
    },
    deleteClient: async (req, ctx) => {
      await audited(audit, ctx, "client", (tx) => clients.delete(req.clientId, req.etag, actorOf(ctx), tx), () => req.clientId);
      return {};
    },
    rotateClientSecret: async (req, ctx) => {
      const { client, secret } = await audited(audit, ctx, "client", (tx) => clients.rotateSecret(req.clientId, req.gracePeriodSeconds, actorOf(ctx), tx), () => req.clientId);
      return { client: toPb(client), clientSecret: secret };
    },
  });
}

function fromPb(pb: PbClient | undefined): ClientInput {
  return {
    name: pb?.name ?? "",
    description: pb?.description ?? "",
    type: enumToDomain(pb?.type ?? 0, CLIENT_TYPE),
    tokenEndpointAuthMethod: enumToDomain(pb?.tokenEndpointAuthMethod ?? 0, AUTH_METHOD),
    grantTypes: pb?.grantTypes ?? [],
    disabled: pb?.disabled ?? false,
    metadata: pb?.metadata ?? {},
    jwks: pb?.jwks,
    tlsClientAuth: {
      subjectDn: pb?.tlsClientAuthSubjectDn || undefined,
      sanDns: pb?.tlsClientAuthSanDns || undefined,
      sanUri: pb?.tlsClientAuthSanUri || undefined,
      sanIp: pb?.tlsClientAuthSanIp || undefined,
      sanEmail: pb?.tlsClientAuthSanEmail || undefined,
    },
    certificateBoundTokens: pb?.tlsClientCertificateBoundAccessTokens ?? false,
    dpopBoundTokens: pb?.dpopBoundAccessTokens ?? false,
  };
}

/** Never includes secret values: only their ids and dates. */
export function toPb(c: Client): PbClient {
  return {
    clientId: c.clientId,
    name: c.name,
    description: c.description,
    type: ClientType.CLIENT_TYPE_M2M,
    tokenEndpointAuthMethod: enumFromDomain(c.tokenEndpointAuthMethod, AUTH_METHOD),
    grantTypes: c.grantTypes,
    disabled: c.disabled,
    dynamic: c.dynamic,
    metadata: c.metadata,
    jwks: c.jwks as PbClient["jwks"],
    secrets: c.secrets.map((s) => ({ id: s.id, createTime: timestamp(s.createTime), expireTime: timestamp(s.expireTime) })),
    usage: { tokensIssued: c.tokensIssued, lastIssueTime: timestamp(c.lastIssueTime) },
    createTime: timestamp(c.createTime),
    updateTime: timestamp(c.updateTime),
    etag: etagOfClient(c),
    tlsClientAuthSubjectDn: c.tlsClientAuth?.subjectDn ?? "",
    tlsClientAuthSanDns: c.tlsClientAuth?.sanDns ?? "",
    tlsClientAuthSanUri: c.tlsClientAuth?.sanUri ?? "",
    tlsClientAuthSanIp: c.tlsClientAuth?.sanIp ?? "",
    tlsClientAuthSanEmail: c.tlsClientAuth?.sanEmail ?? "",
    tlsClientCertificateBoundAccessTokens: c.certificateBoundTokens,
    dpopBoundAccessTokens: c.dpopBoundTokens,
  };
}
