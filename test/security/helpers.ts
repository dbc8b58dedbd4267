import * as grpc from "@grpc/grpc-js";
import { ApiServerServiceClient } from "../../gen/authz/v1/api_server.js";
import { ClientServiceClient } from "../../gen/authz/v1/client.js";
import { GrantServiceClient } from "../../gen/authz/v1/grant.js";
import { KeyServiceClient } from "../../gen/authz/v1/key.js";
import { IssueTokenRequest } from "../../gen/authz/v1/token.js";
import { MANAGEMENT_API_SERVER_ID, MANAGEMENT_AUDIENCE } from "../../src/domain/constants.js";
import { promisify } from "../helpers/promisify.js";
import { bearerInterceptor } from "../../sdk/src/index.js";
import { createClient, grant } from "../helpers/oauth.js";
import type { TestServer } from "../helpers/server.js";

/** A management client holding exactly `scopes` (or every permission), with its token and generated clients that send it. */
export async function operator(t: TestServer, scopes: string[] | "all") {
  const { client, secret } = await createClient(t);
  const g = await grant(t, client.clientId, MANAGEMENT_API_SERVER_ID, scopes === "all" ? [] : scopes, scopes === "all");
  const token = await managementToken(t, client.clientId, secret);
  return { clientId: client.clientId, secret, grant: g, token, api: managementClients(t, token) };
}

export async function managementToken(t: TestServer, clientId: string, clientSecret: string, scope?: string): Promise<string> {
  const res = await t.clients.tokens.issueToken(IssueTokenRequest.fromPartial({ client: { clientId, clientSecret }, audience: MANAGEMENT_AUDIENCE, scope }));
  return res.accessToken;
}

/** Generated management clients that send `token`. */
export function managementClients(t: TestServer, token: string) {
  const creds = grpc.credentials.createInsecure();
  const options = { interceptors: [bearerInterceptor(async () => token)] };
  return {
    apiServers: promisify(new ApiServerServiceClient(t.address, creds, options)),
    clients: promisify(new ClientServiceClient(t.address, creds, options)),
    grants: promisify(new GrantServiceClient(t.address, creds, options)),
    keys: promisify(new KeyServiceClient(t.address, creds, options)),
  };
}
