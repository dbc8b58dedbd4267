/**
 * `createAuthzClients`: promise clients for every authz gRPC service over one
 * shared channel, with the management bearer token added by an interceptor.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import {
  ApiServerServiceService,
  CreateApiServerRequest,
  DeleteApiServerRequest,
  GetApiServerRequest,
  ListApiServersRequest,
  UpdateApiServerRequest,
} from "./gen/authz/v1/api_server.js";
import { AuditServiceService, ListAuditEventsRequest } from "./gen/authz/v1/audit.js";
import {
  ClientServiceService,
  CreateClientRequest,
  DeleteClientRequest,
  GetClientRequest,
  ListClientsRequest,
  RotateClientSecretRequest,
  UpdateClientRequest,
} from "./gen/authz/v1/client.js";
import { CreateGrantRequest, DeleteGrantRequest, GetGrantRequest, GrantServiceService, ListGrantsRequest, UpdateGrantRequest } from "./gen/authz/v1/grant.js";
import { KeyServiceService, ListKeysRequest, RotateKeysRequest } from "./gen/authz/v1/key.js";
import {
  GetJwksRequest,
  GetServerMetadataRequest,
  IntrospectRequest,
  OAuthServiceService,
  RegisterRequest,
  RevokeRequest,
  TokenRequest,
} from "./gen/authz/v1/oauth.js";
import { RevocationServiceService, WatchRevocationsRequest } from "./gen/authz/v1/revocation.js";
import { IntrospectTokenRequest, IssueTokenRequest, RevokeTokenRequest, TokenServiceService } from "./gen/authz/v1/token.js";
import { bearerInterceptor, type TokenProvider } from "./bearer_interceptor.js";
import { promiseClient, type PromiseClient } from "./promise_client.js";

/** Options of {@link createAuthzClients}. */
export interface AuthzClientsOptions {
  /** gRPC address of authz, e.g. `127.0.0.1:50051` or `authz.internal:443`. */
  address: string;
  /** Channel credentials; default insecure (loopback / service mesh). */
  credentials?: grpc.ChannelCredentials;
  /**
   * Management token for every non-public RPC (`authorization: Bearer`), e.g.
   * `new TokenSource({ ..., audience: "urn:authz:management" })`. Added by a
   * client interceptor, so it works on insecure channels too. Public RPCs
   * (OAuthService, TokenService.IssueToken/RevokeToken) never get it.
   */
  token?: TokenProvider;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
  /** Extra client interceptors, run after the bearer interceptor. */
  interceptors?: grpc.Interceptor[];
  /** Deadline of every unary call unless the call passes its own, ms. */
  defaultTimeoutMs?: number;
}

/** Promise clients for every authz service. Close with `close()`. */
export interface AuthzClients {
  /** `authz.v1.ApiServerService`. */
  apiServers: PromiseClient<typeof ApiServerServiceService>;
  /** `authz.v1.ClientService`. */
  clients: PromiseClient<typeof ClientServiceService>;
  /** `authz.v1.GrantService`. */
  grants: PromiseClient<typeof GrantServiceService>;
  /** `authz.v1.KeyService`. */
  keys: PromiseClient<typeof KeyServiceService>;
  /** `authz.v1.AuditService`. */
  audit: PromiseClient<typeof AuditServiceService>;
  /** `authz.v1.TokenService` (IntrospectToken gets the bearer token; IssueToken and RevokeToken are public). */
  tokens: PromiseClient<typeof TokenServiceService>;
  /** `authz.v1.RevocationService` (`watchRevocations` returns the server stream). */
  revocations: PromiseClient<typeof RevocationServiceService>;
  /** `authz.v1.OAuthService` (HttpBody-shaped OAuth endpoints; public). */
  oauth: PromiseClient<typeof OAuthServiceService>;
  /** The underlying grpc-js client (one channel for all services). */
  readonly grpcClient: grpc.Client;
  /** Closes the channel. */
  close(): void;
}

/** Methods that are public on authz: the bearer interceptor leaves them alone. */
const PUBLIC_METHOD = /^\/authz\.v1\.(OAuthService\/|TokenService\/(IssueToken|RevokeToken)$)/;

/**
 * Promise clients for every authz gRPC service over one shared channel.
 *
 * ```ts
 * const admin = new TokenSource({ address, clientId, clientSecret, audience: "urn:authz:management" });
 * const authz = createAuthzClients({ address, token: admin });
 * const { apiServer } = await authz.apiServers.createApiServer({ apiServer: { name: "Orders", identifier: "https://orders.example.com" } });
 * ```
 *
 * Requests are plain partial objects (built with the message's `fromPartial`);
 * failures reject with the grpc-js `ServiceError` (see `rpcErrorDetails`).
 */
export function createAuthzClients(options: AuthzClientsOptions): AuthzClients {
  const interceptors: grpc.Interceptor[] = [];
  if (options.token) {
    interceptors.push(bearerInterceptor(options.token, { applies: (path) => !PUBLIC_METHOD.test(path) }));
  }
  interceptors.push(...(options.interceptors ?? []));
  const client = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
    ...options.channelOptions,
    interceptors,
  });
  const defaults = { timeoutMs: options.defaultTimeoutMs };
  return {
    apiServers: promiseClient(
      client,
      ApiServerServiceService,
      {
        createApiServer: CreateApiServerRequest,
        getApiServer: GetApiServerRequest,
        listApiServers: ListApiServersRequest,
        updateApiServer: UpdateApiServerRequest,
        deleteApiServer: DeleteApiServerRequest,
      },
      defaults,
    ),
    clients: promiseClient(
      client,
      ClientServiceService,
      {
        createClient: CreateClientRequest,
        getClient: GetClientRequest,
        listClients: ListClientsRequest,
        updateClient: UpdateClientRequest,
        deleteClient: DeleteClientRequest,
        rotateClientSecret: RotateClientSecretRequest,
      },
      defaults,
    ),
    grants: promiseClient(
      client,
      GrantServiceService,
      {
        createGrant: CreateGrantRequest,
        getGrant: GetGrantRequest,
        listGrants: ListGrantsRequest,
        updateGrant: UpdateGrantRequest,
        deleteGrant: DeleteGrantRequest,
      },
      defaults,
    ),
    keys: promiseClient(client, KeyServiceService, { listKeys: ListKeysRequest, rotateKeys: RotateKeysRequest }, defaults),
    audit: promiseClient(client, AuditServiceService, { listAuditEvents: ListAuditEventsRequest }, defaults),
    tokens: promiseClient(
      client,
      TokenServiceService,
      { issueToken: IssueTokenRequest, introspectToken: IntrospectTokenRequest, revokeToken: RevokeTokenRequest },
      defaults,
    ),
    revocations: promiseClient(client, RevocationServiceService, { watchRevocations: WatchRevocationsRequest }, {}),
    oauth: promiseClient(
      client,
      OAuthServiceService,
      {
        token: TokenRequest,
        introspect: IntrospectRequest,
        revoke: RevokeRequest,
        register: RegisterRequest,
        getJwks: GetJwksRequest,
        getServerMetadata: GetServerMetadataRequest,
      },
      defaults,
    ),
    grpcClient: client,
    close: () => client.close(),
  };
}
