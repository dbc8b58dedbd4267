// The main authz cells against one server (N API servers/clients/grants, half
// ES256, half RS256): gRPC health check, issuance and introspection over gRPC
// and HTTP, JWKS; and SDK-style local verification ceilings from its JWKS and
// tokens. Also the load-run helpers the other scenarios use.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Authz } from "../lib/authz.js";
import { ALGS, createFixture, probeFixture, type Fixture } from "../lib/fixtures.js";
import { grpcLoad, h2loadAvailable, type GrpcJob, type GrpcTool } from "../lib/grpc_load.js";
import { httpLoad, type HttpRequestSpec } from "../lib/http_load.js";
import { LOAD_CORE, plan, scratch } from "../lib/plan.js";
import { record } from "../lib/results.js";
import { cryptoCeilings } from "./ceilings.js";
import type { CellSpec } from "./matrix.js";

export const PATHS = {
  issue: "/authz.v1.TokenService/IssueToken",
  introspect: "/authz.v1.TokenService/IntrospectToken",
  health: "/grpc.health.v1.Health/Check",
};

export const grpcRun = (authz: Authz, path: string, requests: Buffer[], c: number, tool?: GrpcTool, minMessageBytes = 1, core: number | null = LOAD_CORE ?? null) => () =>
  grpcLoad({ target: authz.grpcTarget, path, requests, concurrency: c, warmupMs: plan.grpcWarmup * 1000, durationMs: plan.grpcSeconds * 1000, minMessageBytes } satisfies GrpcJob, core ?? undefined, tool);

/** `core`: the load core; null: unpinned. */
export const httpRun = (authz: Authz, requests: HttpRequestSpec[], c: number, core: number | null = LOAD_CORE ?? null) => () =>
  httpLoad({ base: authz.httpBase, requests, connections: c, warmupSeconds: plan.warmup, durationSeconds: plan.seconds }, core ?? undefined);

export async function setUpMain(authz: Authz): Promise<Fixture> {
  const fixture = await createFixture(authz, plan.n);
  for (const alg of ALGS) await probeFixture(authz, fixture.byAlg[alg]);
  return fixture;
}

/** The authz cells: health check, issuance (both algorithms) and introspection over gRPC and HTTP, JWKS. */
export function authzSpecs(authz: Authz, fixture: Fixture): CellSpec[] {
  const specs: CellSpec[] = [];
  // grpc.health.v1 Check with an empty request (all services): h2load, as before.
  if (h2loadAvailable) specs.push({ kind: "grpc.health_check", run: (c) => grpcRun(authz, PATHS.health, [Buffer.alloc(0)], c, "h2load", 0)() });
  for (const alg of ALGS) {
    const f = fixture.byAlg[alg];
    specs.push({ kind: `grpc.issue.${alg}`, run: (c) => grpcRun(authz, PATHS.issue, f.grpcIssue, c)() });
    specs.push({ kind: `http.issue.${alg}`, run: (c) => httpRun(authz, f.httpIssue, c)() });
  }
  const es = fixture.byAlg.ES256;
  specs.push({ kind: "grpc.introspect.ES256", run: (c) => grpcRun(authz, PATHS.introspect, es.grpcIntrospect, c)() });
  specs.push({ kind: "http.introspect.ES256", run: (c) => httpRun(authz, es.httpIntrospect, c)() });
  const jwks: HttpRequestSpec[] = [{ method: "GET", path: "/.well-known/jwks.json" }];
  specs.push({ kind: "http.jwks", run: (c) => httpRun(authz, jwks, c)() });
  return specs;
}

/** jose local verification through the server's JWKS, in the ceilings process. */
export async function localVerifyCeilings(authz: Authz, fixture: Fixture): Promise<void> {
  const jwksFile = join(scratch, "jwks.json");
  writeFileSync(jwksFile, await (await fetch(`${authz.httpBase}/.well-known/jwks.json`)).text());
  const tokensFile = join(scratch, "tokens.json");
  writeFileSync(tokensFile, JSON.stringify(Object.fromEntries(ALGS.map((a) => [a, fixture.byAlg[a].tokens]))));
  Object.assign(record.ceilings, await cryptoCeilings({ jwksFile, tokensFile, issuer: authz.httpBase }));
}
