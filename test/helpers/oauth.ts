import * as grpc from "@grpc/grpc-js";
import { CreateApiServerRequest, type ApiServer } from "../../gen/authz/v1/api_server.js";
import { CreateClientRequest, TokenEndpointAuthMethod, type Client } from "../../gen/authz/v1/client.js";
import { CreateGrantRequest } from "../../gen/authz/v1/grant.js";
import { OAuthServiceClient } from "../../gen/authz/v1/oauth.js";
import type { TestServer } from "./server.js";

let counter = 0;
const unique = () => `${process.pid}-${Date.now()}-${++counter}`;

/** Creates an API server over gRPC; identifier unique per call unless given. */
export async function createApiServer(t: TestServer, fields: Partial<ApiServer> = {}): Promise<ApiServer> {
  const { apiServer } = await t.clients.apiServers.createApiServer(
    CreateApiServerRequest.fromPartial({
      apiServer: {
        name: "Orders API",
        identifier: `https://orders-${unique()}.example.com`,
        permissions: [
          { value: "orders:read", description: "read orders" },
          { value: "orders:write", description: "write orders" },
          { value: "orders:delete", description: "delete orders" },
        ],
        ...fields,
      },
    }),
  );
  return apiServer!;
}

/** Creates a client over gRPC and returns it with its one-time secret. */
export async function createClient(t: TestServer, fields: Partial<Client> = {}): Promise<{ client: Client; secret: string }> {
  const res = await t.clients.clients.createClient(
    CreateClientRequest.fromPartial({
      client: { name: `svc-${unique()}`, tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST, ...fields },
    }),
  );
  return { client: res.client!, secret: res.clientSecret };
}

export async function grant(t: TestServer, clientId: string, apiServerId: string, scopes: string[], allowAllScopes = false) {
  const res = await t.clients.grants.createGrant(CreateGrantRequest.fromPartial({ grant: { clientId, apiServerId, scopes, allowAllScopes } }));
  return res.grant!;
}

export interface HttpShapedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: any;
}

type HttpMethod = "token" | "introspect" | "revoke" | "register" | "getJwks" | "getServerMetadata";

/**
 * Calls an HttpBody-shaped OAuthService RPC over gRPC and returns what the
 * HTTP edge would turn it into: status from `x-http-code` (200 otherwise),
 * initial metadata as headers, the raw body.
 */
export function oauthCall(
  address: string,
  method: HttpMethod,
  request: { contentType?: string; body?: string | Buffer; authorization?: string } = {},
): Promise<HttpShapedResponse> {
  const client = new OAuthServiceClient(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (request.authorization) md.set("authorization", request.authorization);
  const data = typeof request.body === "string" ? Buffer.from(request.body) : (request.body ?? Buffer.alloc(0));
  const message = { httpBody: { contentType: request.contentType ?? "", data, extensions: [] } };
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    const fn = (client as unknown as Record<string, Function>)[method]!.bind(client);
    const call: grpc.ClientUnaryCall = fn(message, md, {}, (err: grpc.ServiceError | null, res: { httpBody?: { data: Buffer } }) => {
      client.close();
      if (err) return reject(err);
      const body = Buffer.from(res.httpBody?.data ?? Buffer.alloc(0)).toString("utf8");
      const status = Number(headers["x-http-code"] ?? 200);
      resolve({ status, headers, body, json: body ? JSON.parse(body) : undefined });
    });
    call.on("metadata", (m: grpc.Metadata) => {
      for (const [k, v] of Object.entries(m.getMap())) headers[k] = String(v);
    });
  });
}

export const form = (fields: Record<string, string>) => ({
  contentType: "application/x-www-form-urlencoded",
  body: new URLSearchParams(fields).toString(),
});

/** RFC 6749 §2.3.1 Basic credentials: form-urlencoded, then base64. */
export function basic(clientId: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString("base64")}`;
}
