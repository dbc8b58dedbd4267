/**
 * RFC 7662 introspection for the verifier's fallback: HTTP
 * `POST <issuer>/oauth/introspect` or gRPC `TokenService.IntrospectToken`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { IntrospectTokenRequest, TokenServiceService } from "./gen/authz/v1/token.js";
import { TokenVerificationError } from "./errors.js";
import { basicAuthorization, fetchWithTimeout, type FetchLike } from "./fetch.js";

/** The members of an introspection answer the verifier uses. */
export interface IntrospectionResult {
  active: boolean;
  scope?: string;
  clientId?: string;
  jti?: string;
  /** Seconds since the epoch. */
  exp?: number;
  /** `Bearer`, or `DPoP` for a DPoP-bound token (RFC 9449 §6.2). */
  tokenType?: string;
  /** What the token is bound to (RFC 8705 §3.2, RFC 9449 §6.2). */
  cnf?: { "x5t#S256"?: string; jkt?: string };
}

/** Asks authz whether a token is active. Throws `ERR_INTROSPECTION_UNAVAILABLE` when it cannot tell. */
export interface IntrospectionTransport {
  introspect(token: string, options: { timeoutMs: number }): Promise<IntrospectionResult>;
  close?(): void;
}

/** When the verifier introspects. */
export type IntrospectionMode = "always" | "on-revocation-watch-down";

/** Options of the verifier's `introspect` fallback. */
export interface IntrospectionOptions {
  /** A client granted `tokens:introspect` on `urn:authz:management` and a grant to this API server. */
  clientId: string;
  clientSecret: string;
  /**
   * `always`: every token that passes the local checks is also introspected.
   * `on-revocation-watch-down`: only while the revocation watch cannot vouch
   * for the token (stream down for `maxStaleSeconds`, or a resync gap).
   * Default: `on-revocation-watch-down` with a watch, `always` without.
   */
  mode?: IntrospectionMode;
  /** gRPC address: `TokenService.IntrospectToken`. Without it: HTTP. */
  address?: string;
  credentials?: grpc.ChannelCredentials;
  /** HTTP endpoint; default the metadata's `introspection_endpoint`, else `<issuer>/oauth/introspect`. */
  endpoint?: string;
  /** Per-call timeout (default 5000 ms). */
  timeoutMs?: number;
  /** A custom transport (tests); wins over `address` and `endpoint`. */
  transport?: IntrospectionTransport;
}

function unavailable(what: string, cause?: unknown): TokenVerificationError {
  return new TokenVerificationError("ERR_INTROSPECTION_UNAVAILABLE", `introspection unavailable (${what})`, { cause });
}

/** Introspection over HTTP with client_secret_basic. */
export function httpIntrospection(options: {
  endpoint: () => Promise<string>;
  clientId: string;
  clientSecret: string;
  fetch: FetchLike;
}): IntrospectionTransport {
  return {
    async introspect(token, { timeoutMs }) {
      let res: Response;
      try {
        res = await fetchWithTimeout(
          options.fetch,
          await options.endpoint(),
          {
            method: "POST",
            headers: {
              authorization: basicAuthorization(options.clientId, options.clientSecret),
              "content-type": "application/x-www-form-urlencoded",
              accept: "application/json",
            },
            body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
          },
          timeoutMs,
        );
      } catch (err) {
        throw unavailable((err as Error).name, err);
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        throw unavailable(`HTTP ${res.status}`);
      }
      let body: Record<string, unknown>;
      try {
        body = (await res.json()) as Record<string, unknown>;
      } catch (err) {
        throw unavailable("not JSON", err);
      }
      if (typeof body.active !== "boolean") throw unavailable("no active member");
      return {
        active: body.active,
        scope: typeof body.scope === "string" ? body.scope : undefined,
        clientId: typeof body.client_id === "string" ? body.client_id : undefined,
        jti: typeof body.jti === "string" ? body.jti : undefined,
        exp: typeof body.exp === "number" ? body.exp : undefined,
        tokenType: typeof body.token_type === "string" ? body.token_type : undefined,
        cnf: confirmation(body.cnf),
      };
    },
  };
}

/** Introspection over gRPC (`TokenService.IntrospectToken`, the client authenticates with its secret). */
export function grpcIntrospection(options: {
  address: string;
  credentials?: grpc.ChannelCredentials;
  clientId: string;
  clientSecret: string;
}): IntrospectionTransport {
  const client = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), {});
  const def = TokenServiceService.introspectToken;
  return {
    introspect(token, { timeoutMs }) {
      const request = IntrospectTokenRequest.fromPartial({
        client: { clientId: options.clientId, clientSecret: options.clientSecret },
        token,
        tokenTypeHint: "access_token",
      });
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize,
          request,
          new grpc.Metadata(),
          { deadline: Date.now() + timeoutMs },
          (err, res) => {
            if (err || !res) return reject(unavailable(`gRPC ${err ? grpc.status[err.code] : "no response"}`, err));
            resolve({
              active: res.active,
              scope: res.scope || undefined,
              clientId: res.clientId || undefined,
              jti: res.jti || undefined,
              exp: res.exp || undefined,
              tokenType: res.tokenType || undefined,
              cnf: res.cnf && (res.cnf.x5tS256 || res.cnf.jkt) ? confirmation({ "x5t#S256": res.cnf.x5tS256 || undefined, jkt: res.cnf.jkt || undefined }) : undefined,
            });
          },
        );
      });
    },
    close: () => client.close(),
  };
}

/** The string members of an introspected `cnf`. */
function confirmation(value: unknown): IntrospectionResult["cnf"] {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const cnf: NonNullable<IntrospectionResult["cnf"]> = {};
  if (typeof v["x5t#S256"] === "string") cnf["x5t#S256"] = v["x5t#S256"];
  if (typeof v.jkt === "string") cnf.jkt = v.jkt;
  return cnf["x5t#S256"] === undefined && cnf.jkt === undefined ? undefined : cnf;
}
