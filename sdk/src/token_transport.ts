/**
 * How a {@link TokenSource} asks for tokens: the interface, and the two
 * implementations (gRPC `TokenService.IssueToken`, HTTP `POST /oauth/token`).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { IssueTokenRequest, TokenServiceService } from "./gen/authz/v1/token.js";
import { TokenSourceError } from "./errors.js";
import { basicAuthorization, fetchWithTimeout, oauthErrorOf, trimSlash, type FetchLike } from "./fetch.js";
import { grpcRetryAfterMs, parseRetryAfter, rpcErrorDetails } from "./rpc_status.js";

/** One client-credentials token request. */
export interface TokenRequest {
  clientId: string;
  clientSecret: string;
  /** The API server identifier (Auth0 style). */
  audience?: string;
  /** RFC 8707 resource indicator. */
  resource?: string;
  /** Space-separated scopes; empty or absent: every granted scope. */
  scope?: string;
  /**
   * For a DPoP-bound token (RFC 9449 §5): makes a fresh proof for one attempt,
   * given the method and the token endpoint URL (`htu`). The transport sends
   * it as the `DPoP` header (HTTP) or `dpop` metadata (gRPC).
   */
  dpopProof?: (htm: string, htu: string) => Promise<string>;
}

/** A successful token response. */
export interface TokenResponse {
  accessToken: string;
  /** Seconds until the token expires, as the server said. */
  expiresIn: number | undefined;
  /** Granted scopes (space-separated), if the server said. */
  scope: string | undefined;
  /** `Bearer` or `DPoP` (RFC 9449 §5), when the transport knows. */
  tokenType?: string;
  /** A fresh `DPoP-Nonce` the server sent along (RFC 9449 §8.2), for the next proof. */
  dpopNonce?: string;
}

/**
 * Gets one token. Implementations throw {@link TokenSourceError}: `retryable`
 * for UNAVAILABLE / RESOURCE_EXHAUSTED / HTTP 503 / 429 / network failures,
 * with `retryAfterMs` when the server asked for a delay.
 */
export interface TokenTransport {
  issue(request: TokenRequest, options: { timeoutMs: number }): Promise<TokenResponse>;
  /** Releases connections. */
  close?(): void;
}

/** Options of {@link grpcTokenTransport}. */
export interface GrpcTokenTransportOptions {
  /** gRPC address of authz. */
  address: string;
  /** Default insecure. */
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /**
   * The HTTP token endpoint, `<issuer>/oauth/token` (metadata `token_endpoint`):
   * the `htu` of DPoP proofs sent in `dpop` metadata. Needed for DPoP only.
   */
  tokenEndpoint?: string;
}

/**
 * Tokens through `authz.v1.TokenService/IssueToken` (the secret travels as a
 * request field). A DPoP proof goes in the `dpop` metadata key, made for
 * `POST` and `tokenEndpoint`.
 */
export function grpcTokenTransport(options: GrpcTokenTransportOptions): TokenTransport {
  const client = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions ?? {});
  const def = TokenServiceService.issueToken;
  return {
    async issue(request, { timeoutMs }) {
      const metadata = new grpc.Metadata();
      if (request.dpopProof) {
        if (!options.tokenEndpoint) throw new TokenSourceError("ERR_TOKEN_REQUEST_REFUSED", "DPoP over gRPC needs the token endpoint URL (the proof's htu)");
        metadata.set("dpop", await request.dpopProof("POST", options.tokenEndpoint));
      }
      const message = IssueTokenRequest.fromPartial({
        client: { clientId: request.clientId, clientSecret: request.clientSecret },
        grantType: "client_credentials",
        audience: request.audience ?? "",
        resource: request.resource ?? "",
        scope: request.scope ?? "",
      });
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize,
          message,
          metadata,
          { deadline: Date.now() + timeoutMs },
          (err, res) => {
            if (err) return reject(fromGrpcError(err));
            if (!res || !res.accessToken) return reject(new TokenSourceError("ERR_TOKEN_RESPONSE_INVALID", "IssueToken returned no access token"));
            resolve({ accessToken: res.accessToken, expiresIn: res.expiresIn || undefined, scope: res.scope || undefined, tokenType: res.tokenType || undefined });
          },
        );
      });
    },
    close: () => client.close(),
  };
}

/** UNAVAILABLE (the server's overload/drain answer), RESOURCE_EXHAUSTED (429's analogue) and a timed-out attempt. */
const RETRYABLE_GRPC = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED, grpc.status.DEADLINE_EXCEEDED]);

function fromGrpcError(err: grpc.ServiceError): TokenSourceError {
  const grpcCode = err.code;
  const oauthError = rpcErrorDetails(err).errorInfo?.reason || undefined;
  if (RETRYABLE_GRPC.has(grpcCode)) {
    return new TokenSourceError("ERR_TOKEN_ENDPOINT_UNAVAILABLE", `token endpoint unavailable (gRPC ${grpc.status[grpcCode]})`, {
      retryable: true,
      retryAfterMs: grpcRetryAfterMs(err),
      grpcCode,
      oauthError,
    });
  }
  const nonce = err.metadata?.get("dpop-nonce")[0];
  return new TokenSourceError("ERR_TOKEN_REQUEST_REFUSED", `token request refused (gRPC ${grpc.status[grpcCode]}${oauthError ? `, ${oauthError}` : ""})`, {
    grpcCode,
    oauthError,
    dpopNonce: typeof nonce === "string" ? nonce : undefined,
  });
}

/** Options of {@link httpTokenTransport}. */
export interface HttpTokenTransportOptions {
  /** The issuer; the endpoint is `<issuer>/oauth/token` unless `tokenEndpoint` is given. */
  issuer?: string;
  /** The token endpoint URL. */
  tokenEndpoint?: string;
  /** How the client authenticates: `client_secret_basic` (default) or `client_secret_post`. */
  authMethod?: "client_secret_basic" | "client_secret_post";
  fetch?: FetchLike;
}

/**
 * Tokens through `POST <issuer>/oauth/token` (RFC 6749 §4.4, form body,
 * client_secret_basic by default), with a `DPoP` header when the request has a proof maker.
 */
export function httpTokenTransport(options: HttpTokenTransportOptions): TokenTransport {
  const endpoint = options.tokenEndpoint ?? (options.issuer ? `${trimSlash(options.issuer)}/oauth/token` : undefined);
  if (!endpoint) throw new TypeError("httpTokenTransport needs issuer or tokenEndpoint");
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const post = options.authMethod === "client_secret_post";
  return {
    async issue(request, { timeoutMs }) {
      const form = new URLSearchParams({ grant_type: "client_credentials" });
      if (request.audience) form.set("audience", request.audience);
      if (request.resource) form.set("resource", request.resource);
      if (request.scope) form.set("scope", request.scope);
      const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
      if (post) {
        form.set("client_id", request.clientId);
        form.set("client_secret", request.clientSecret);
      } else {
        headers.authorization = basicAuthorization(request.clientId, request.clientSecret);
      }
      if (request.dpopProof) headers.dpop = await request.dpopProof("POST", endpoint);
      let res: Response;
      try {
        res = await fetchWithTimeout(fetchImpl, endpoint, { method: "POST", headers, body: form.toString() }, timeoutMs);
      } catch (err) {
        throw new TokenSourceError("ERR_TOKEN_ENDPOINT_UNAVAILABLE", `token endpoint unreachable (${(err as Error).name})`, { retryable: true, cause: err });
      }
      if (res.status === 503 || res.status === 429) {
        await res.body?.cancel().catch(() => {});
        throw new TokenSourceError("ERR_TOKEN_ENDPOINT_UNAVAILABLE", `token endpoint unavailable (HTTP ${res.status})`, {
          retryable: true,
          retryAfterMs: parseRetryAfter(res.headers.get("retry-after"), Date.now()),
          httpStatus: res.status,
        });
      }
      if (res.status !== 200) {
        const oauthError = await oauthErrorOf(res);
        throw new TokenSourceError("ERR_TOKEN_REQUEST_REFUSED", `token request refused (HTTP ${res.status}${oauthError ? `, ${oauthError}` : ""})`, {
          httpStatus: res.status,
          oauthError,
          dpopNonce: res.headers.get("dpop-nonce") ?? undefined,
        });
      }
      let body: { access_token?: unknown; token_type?: unknown; expires_in?: unknown; scope?: unknown };
      try {
        body = (await res.json()) as typeof body;
      } catch (err) {
        throw new TokenSourceError("ERR_TOKEN_RESPONSE_INVALID", "token response is not JSON", { cause: err });
      }
      if (typeof body.access_token !== "string" || !body.access_token)
        throw new TokenSourceError("ERR_TOKEN_RESPONSE_INVALID", "token response has no access_token");
      const tokenType = typeof body.token_type === "string" ? body.token_type.toLowerCase() : undefined;
      if (tokenType !== "bearer" && tokenType !== "dpop") {
        throw new TokenSourceError("ERR_TOKEN_RESPONSE_INVALID", "token response is not a Bearer or DPoP token");
      }
      return {
        tokenType: tokenType === "dpop" ? "DPoP" : "Bearer",
        accessToken: body.access_token,
        expiresIn: typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : undefined,
        scope: typeof body.scope === "string" ? body.scope : undefined,
        dpopNonce: res.headers.get("dpop-nonce") ?? undefined,
      };
    },
  };
}
