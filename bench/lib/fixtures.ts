// Stored state the load runs over: N API servers, N clients with one grant
// each, and an introspecting client granted on every API server; created
// through the gRPC management API with `plan.setupConcurrency` calls in
// flight. Returns the per-request fixtures (gRPC messages, HTTP requests)
// that the load generators rotate over.
import { ApiServerServiceService, CreateApiServerRequest, ListApiServersRequest } from "../../gen/authz/v1/api_server.js";
import { ClientServiceService, CreateClientRequest, TokenEndpointAuthMethod } from "../../gen/authz/v1/client.js";
import { SigningAlg } from "../../gen/authz/v1/common.js";
import { CreateGrantRequest, GrantServiceService } from "../../gen/authz/v1/grant.js";
import { IntrospectTokenRequest, IssueTokenRequest, TokenServiceService } from "../../gen/authz/v1/token.js";
import type { Authz } from "./authz.js";
import type { HttpRequestSpec } from "./http_load.js";
import { log, plan } from "./plan.js";
import { mapLimit } from "./procs.js";
import { basic, unary } from "./rpc.js";

export const ALGS = ["ES256", "RS256"] as const;
export type Alg = (typeof ALGS)[number];

export interface Credentials {
  clientId: string;
  clientSecret: string;
}

export interface AlgFixture {
  grpcIssue: Buffer[];
  httpIssue: HttpRequestSpec[];
  grpcIntrospect: Buffer[];
  httpIntrospect: HttpRequestSpec[];
  /** One live access token per client. */
  tokens: string[];
  clients: Credentials[];
  audiences: string[];
  apiServerIds: string[];
}

export interface Fixture {
  byAlg: Record<Alg, AlgFixture>;
  introspector: Credentials;
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

export function httpIssueRequest(client: Credentials, audience: string): HttpRequestSpec {
  return {
    method: "POST",
    path: "/oauth/token",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(client.clientId, client.clientSecret) },
    body: form({ grant_type: "client_credentials", audience, scope: "orders:read" }),
  };
}

export function grpcIssueRequest(client: Credentials, audience: string): Buffer {
  return Buffer.from(IssueTokenRequest.encode(IssueTokenRequest.fromPartial({ client, audience, scope: "orders:read" })).finish());
}

/**
 * `n` API servers (algorithm per index from `algOf`), `n` clients with a
 * grant each, the introspector granted on each, one token per client.
 */
export async function createFixture(authz: Authz, n: number, algOf: (i: number) => Alg = (i) => ALGS[i % 2]!): Promise<Fixture> {
  const md = authz.adminMetadata;
  const ch = authz.channel;
  const started = Date.now();
  const management = (await unary(ch, ApiServerServiceService.listApiServers, ListApiServersRequest.fromPartial({ pageSize: 1, filter: 'identifier = "urn:authz:management"' }), md)).apiServers[0];
  if (!management) throw new Error("no urn:authz:management API server");
  const created = await unary(ch, ClientServiceService.createClient, CreateClientRequest.fromPartial({ client: { name: "bench-introspector" } }), md);
  const introspector = { clientId: created.client!.clientId, clientSecret: created.clientSecret };
  await unary(ch, GrantServiceService.createGrant, CreateGrantRequest.fromPartial({ grant: { clientId: introspector.clientId, apiServerId: management.id, scopes: ["tokens:introspect"] } }), md);

  const tag = Math.random().toString(36).slice(2, 8);
  let done = 0;
  const rows = await mapLimit(Array.from({ length: n }, (_, i) => i), plan.setupConcurrency, async (i) => {
    const alg = algOf(i);
    const audience = `https://api-${i}.${tag}.bench.example.com`;
    const { apiServer } = await unary(
      ch,
      ApiServerServiceService.createApiServer,
      CreateApiServerRequest.fromPartial({
        apiServer: { name: `API ${i}`, identifier: audience, signingAlg: alg === "ES256" ? SigningAlg.SIGNING_ALG_ES256 : SigningAlg.SIGNING_ALG_RS256, tokenLifetimeSeconds: 3600, permissions: [{ value: "orders:read" }, { value: "orders:write" }] },
      }),
      md,
    );
    const c = await unary(ch, ClientServiceService.createClient, CreateClientRequest.fromPartial({ client: { name: `client ${i}`, tokenEndpointAuthMethod: TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC } }), md);
    const client = { clientId: c.client!.clientId, clientSecret: c.clientSecret };
    await unary(ch, GrantServiceService.createGrant, CreateGrantRequest.fromPartial({ grant: { clientId: client.clientId, apiServerId: apiServer!.id, scopes: ["orders:read"] } }), md);
    await unary(ch, GrantServiceService.createGrant, CreateGrantRequest.fromPartial({ grant: { clientId: introspector.clientId, apiServerId: apiServer!.id } }), md);
    const { accessToken } = await unary(ch, TokenServiceService.issueToken, IssueTokenRequest.fromPartial({ client, audience }));
    if (++done % 5000 === 0) log(`  ${done}/${n} created (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return { alg, audience, client, apiServerId: apiServer!.id, accessToken };
  });

  const empty = (): AlgFixture => ({ grpcIssue: [], httpIssue: [], grpcIntrospect: [], httpIntrospect: [], tokens: [], clients: [], audiences: [], apiServerIds: [] });
  const byAlg: Record<Alg, AlgFixture> = { ES256: empty(), RS256: empty() };
  for (const r of rows) {
    const f = byAlg[r.alg];
    f.clients.push(r.client);
    f.audiences.push(r.audience);
    f.apiServerIds.push(r.apiServerId);
    f.tokens.push(r.accessToken);
    f.grpcIssue.push(grpcIssueRequest(r.client, r.audience));
    f.httpIssue.push(httpIssueRequest(r.client, r.audience));
    f.grpcIntrospect.push(Buffer.from(IntrospectTokenRequest.encode(IntrospectTokenRequest.fromPartial({ client: introspector, token: r.accessToken })).finish()));
    f.httpIntrospect.push({
      method: "POST",
      path: "/oauth/introspect",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(introspector.clientId, introspector.clientSecret) },
      body: form({ token: r.accessToken }),
    });
  }
  log(`fixture: ${n} API servers, clients and grants (+${n} introspection grants) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { byAlg, introspector };
}

/** Checks a sample of the fixtures answers as the load generators will count it (they do not decode responses). */
export async function probeFixture(authz: Authz, f: AlgFixture): Promise<void> {
  const idx = [0, Math.floor(f.clients.length / 2), f.clients.length - 1];
  for (const i of idx) {
    const issued = await unary(authz.channel, TokenServiceService.issueToken, IssueTokenRequest.decode(f.grpcIssue[i]!));
    if (issued.accessToken.split(".").length !== 3) throw new Error("gRPC issuance probe: no JWT");
    const intro = await unary(authz.channel, TokenServiceService.introspectToken, IntrospectTokenRequest.decode(f.grpcIntrospect[i]!));
    if (!intro.active) throw new Error("gRPC introspection probe: token inactive");
    for (const spec of [f.httpIssue[i]!, f.httpIntrospect[i]!]) {
      const res = await fetch(`${authz.httpBase}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body });
      const body = (await res.json()) as { access_token?: string; active?: boolean };
      if (res.status !== 200 || (spec.path === "/oauth/token" ? !body.access_token : body.active !== true)) throw new Error(`HTTP probe ${spec.path}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
    }
  }
}
