// The operator commands are a client of authz like any other: they use the
// SDK package (workspace `sdk/`), its promise clients and token source.
import { parseArgs } from "node:util";
import { TokenDialect, type ApiServer } from "../../sdk/src/gen/authz/v1/api_server.js";
import { TokenEndpointAuthMethod, type Client } from "../../sdk/src/gen/authz/v1/client.js";
import { SigningAlg } from "../../sdk/src/gen/authz/v1/common.js";
import type { Grant } from "../../sdk/src/gen/authz/v1/grant.js";
import { createAuthzClients, TokenSource, type AuthzClients } from "../../sdk/src/index.js";
import { defaults } from "../config.js";
import { MANAGEMENT_AUDIENCE } from "../domain/constants.js";
import { table } from "./table.js";

export const MANAGEMENT_HELP = `Operator commands (call a running authz over gRPC with a management token):
  authz api-servers list [--filter EXPR] | get ID | delete ID
  authz api-servers create --name NAME --identifier AUDIENCE [--permission VALUE[=DESCRIPTION]]...
                           [--signing-alg ES256|RS256|EdDSA] [--token-lifetime SECONDS] [--enforce-policies] [--authz-dialect]
  authz clients list [--filter EXPR] | get CLIENT_ID | delete CLIENT_ID
  authz clients create --name NAME [--auth-method client_secret_basic|client_secret_post] [--grant-type TYPE]...
  authz grants list [--client-id ID] [--api-server-id ID] | get ID | delete ID
  authz grants create --client-id ID --api-server-id ID [--scope SCOPE]... [--all-scopes]
Common options:
  --grpc-address H:P     authz gRPC address       AUTHZ_GRPC_ADDRESS (default ${defaults.grpcAddress})
  --admin-client-id ID         admin client id       AUTHZ_ADMIN_CLIENT_ID
  --admin-client-secret SECRET admin client secret   AUTHZ_ADMIN_CLIENT_SECRET (prefer the environment variable)
  --json                 machine-readable output
`;

export const MANAGEMENT_RESOURCES = ["api-servers", "clients", "grants"] as const;

const OPTIONS = {
  "grpc-address": { type: "string" },
  "admin-client-id": { type: "string" },
  "admin-client-secret": { type: "string" },
  "client-id": { type: "string" },
  json: { type: "boolean" },
  filter: { type: "string" },
  name: { type: "string" },
  identifier: { type: "string" },
  permission: { type: "string", multiple: true },
  "signing-alg": { type: "string" },
  "token-lifetime": { type: "string" },
  "enforce-policies": { type: "boolean" },
  "authz-dialect": { type: "boolean" },
  "auth-method": { type: "string" },
  "grant-type": { type: "string", multiple: true },
  "api-server-id": { type: "string" },
  scope: { type: "string", multiple: true },
  "all-scopes": { type: "boolean" },
} as const;

type Out = (text: string) => void;

/** Runs `authz <resource> <verb> ...`; resolves the process exit code. */
export async function runManagementCommand(resource: string, args: string[], env: NodeJS.ProcessEnv, out: Out): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const [verb, id] = positionals;
  const address = values["grpc-address"] ?? env.AUTHZ_GRPC_ADDRESS ?? defaults.grpcAddress;
  const adminId = values["admin-client-id"] ?? env.AUTHZ_ADMIN_CLIENT_ID;
  const adminSecret = values["admin-client-secret"] ?? env.AUTHZ_ADMIN_CLIENT_SECRET;
  if (!adminId || !adminSecret) throw new UsageError("admin credentials are required: set AUTHZ_ADMIN_CLIENT_ID and AUTHZ_ADMIN_CLIENT_SECRET");

  // No retries: an operator command reports a failure at once rather than wait it out.
  const source = new TokenSource({ address, clientId: adminId, clientSecret: adminSecret, audience: MANAGEMENT_AUDIENCE, retry: { maxAttempts: 1 } });
  const authz = createAuthzClients({ address, token: source });
  const print = (value: unknown, render: () => string) => out(values.json ? JSON.stringify(value, null, 2) + "\n" : render());
  try {
    switch (resource) {
      case "api-servers":
        return await apiServers(authz.apiServers, verb, id, values, print);
      case "clients":
        return await clients(authz.clients, verb, id, values, print);
      case "grants":
        return await grants(authz.grants, verb, id, values, print);
      default:
        throw new UsageError(`unknown resource ${resource}`);
    }
  } finally {
    authz.close();
    source.close();
  }
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];
type Print = (value: unknown, render: () => string) => void;

async function apiServers(api: AuthzClients["apiServers"], verb: string | undefined, id: string | undefined, v: Values, print: Print) {
  const rows = (list: ApiServer[]) => table(["id", "name", "identifier", "alg", "lifetime", "permissions"], list.map((s) => [s.id, s.name, s.identifier, SigningAlg[s.signingAlg].replace("SIGNING_ALG_", ""), String(s.tokenLifetimeSeconds), s.permissions.map((p) => p.value).join(" ")]));
  switch (verb) {
    case "list": {
      const all = await collect((pageToken) => api.listApiServers({ pageSize: 500, pageToken, filter: v.filter ?? "" }).then((r) => ({ items: r.apiServers, next: r.nextPageToken })));
      return print(all, () => rows(all)), 0;
    }
    case "get": {
      const { apiServer } = await api.getApiServer({ id: need(id, "ID") });
      return print(apiServer, () => rows([apiServer!])), 0;
    }
    case "create": {
      const alg = v["signing-alg"] ? SigningAlg[`SIGNING_ALG_${v["signing-alg"].toUpperCase()}` as keyof typeof SigningAlg] : SigningAlg.SIGNING_ALG_UNSPECIFIED;
      if (alg === undefined) throw new UsageError("--signing-alg must be ES256, RS256 or EdDSA");
      const { apiServer } = await api.createApiServer({
          apiServer: {
            name: need(v.name, "--name"),
            identifier: need(v.identifier, "--identifier"),
            permissions: (v.permission ?? []).map((p) => ({ value: p.split("=")[0]!, description: p.split("=").slice(1).join("=") })),
            signingAlg: alg,
            tokenLifetimeSeconds: v["token-lifetime"] ? Number(v["token-lifetime"]) : 0,
            enforcePolicies: v["enforce-policies"] ?? false,
            tokenDialect: v["authz-dialect"] ? TokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ : TokenDialect.TOKEN_DIALECT_UNSPECIFIED,
          },
        });
      return print(apiServer, () => rows([apiServer!])), 0;
    }
    case "delete":
      await api.deleteApiServer({ id: need(id, "ID"), etag: "" });
      return print({ deleted: id }, () => `deleted ${id}\n`), 0;
    default:
      throw new UsageError("api-servers takes list, get, create or delete");
  }
}

async function clients(api: AuthzClients["clients"], verb: string | undefined, id: string | undefined, v: Values, print: Print) {
  const rows = (list: Client[]) => table(["client_id", "name", "auth method", "disabled", "dynamic", "tokens issued"], list.map((c) => [c.clientId, c.name, TokenEndpointAuthMethod[c.tokenEndpointAuthMethod].replace("TOKEN_ENDPOINT_AUTH_METHOD_", "").toLowerCase(), String(c.disabled), String(c.dynamic), String(c.usage?.tokensIssued ?? 0)]));
  switch (verb) {
    case "list": {
      const all = await collect((pageToken) => api.listClients({ pageSize: 500, pageToken, filter: v.filter ?? "" }).then((r) => ({ items: r.clients, next: r.nextPageToken })));
      return print(all, () => rows(all)), 0;
    }
    case "get": {
      const { client } = await api.getClient({ clientId: need(id, "CLIENT_ID") });
      return print(client, () => rows([client!])), 0;
    }
    case "create": {
      const method = v["auth-method"] ?? "client_secret_basic";
      const authMethod = TokenEndpointAuthMethod[`TOKEN_ENDPOINT_AUTH_METHOD_${method.toUpperCase()}` as keyof typeof TokenEndpointAuthMethod];
      if (authMethod === undefined) throw new UsageError("--auth-method must be client_secret_basic or client_secret_post");
      const res = await api.createClient({ client: { name: need(v.name, "--name"), tokenEndpointAuthMethod: authMethod, grantTypes: v["grant-type"] ?? [] } });
      return print(res, () => rows([res.client!]) + `\nclient_secret (shown once, store it now): ${res.clientSecret}\n`), 0;
    }
    case "delete":
      await api.deleteClient({ clientId: need(id, "CLIENT_ID"), etag: "" });
      return print({ deleted: id }, () => `deleted ${id}\n`), 0;
    default:
      throw new UsageError("clients takes list, get, create or delete");
  }
}

async function grants(api: AuthzClients["grants"], verb: string | undefined, id: string | undefined, v: Values, print: Print) {
  const rows = (list: Grant[]) => table(["id", "client_id", "api_server_id", "scopes"], list.map((g) => [g.id, g.clientId, g.apiServerId, g.allowAllScopes ? "(all)" : g.scopes.join(" ")]));
  switch (verb) {
    case "list": {
      const all = await collect((pageToken) =>
        api.listGrants({ pageSize: 500, pageToken, clientId: v["client-id"] ?? "", apiServerId: v["api-server-id"] ?? "" }).then((r) => ({ items: r.grants, next: r.nextPageToken })),
      );
      return print(all, () => rows(all)), 0;
    }
    case "get": {
      const { grant } = await api.getGrant({ id: need(id, "ID") });
      return print(grant, () => rows([grant!])), 0;
    }
    case "create": {
      const { grant } = await api.createGrant({
        grant: { clientId: need(v["client-id"], "--client-id"), apiServerId: need(v["api-server-id"], "--api-server-id"), scopes: v.scope ?? [], allowAllScopes: v["all-scopes"] ?? false },
      });
      return print(grant, () => rows([grant!])), 0;
    }
    case "delete":
      await api.deleteGrant({ id: need(id, "ID"), etag: "" });
      return print({ deleted: id }, () => `deleted ${id}\n`), 0;
    default:
      throw new UsageError("grants takes list, get, create or delete");
  }
}

async function collect<T>(page: (token: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const all: T[] = [];
  let token = "";
  do {
    const { items, next } = await page(token);
    all.push(...items);
    token = next;
  } while (token);
  return all;
}

function need(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`${name} is required`);
  return value;
}

export class UsageError extends Error {
  override name = "UsageError";
}
