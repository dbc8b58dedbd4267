import * as grpc from "@grpc/grpc-js";
import { IssueTokenRequest, TokenServiceClient } from "../../gen/authz/v1/token.js";
import { promisify } from "./promisify.js";

export interface TokenSourceOptions {
  /** gRPC address of authz, e.g. 127.0.0.1:50051. */
  address: string;
  clientId: string;
  clientSecret: string;
  /** The API server identifier to get tokens for. */
  audience: string;
  /** Space-separated scopes; empty for every granted scope. */
  scope?: string;
  /** Renew this many seconds before expiry (default 60, capped at half the lifetime). */
  renewBeforeSeconds?: number;
  credentials?: grpc.ChannelCredentials;
  now?: () => number;
}

/**
 * Gets client-credentials tokens from authz and caches them until shortly
 * before they expire: callers ask on every request, authz sees one issuance per
 * token lifetime. Concurrent callers share one in-flight request.
 */
export class TokenSource {
  private readonly client;
  private cached?: { token: string; renewAt: number };
  private inflight?: Promise<string>;
  private readonly now: () => number;

  constructor(private readonly options: TokenSourceOptions) {
    this.client = promisify(new TokenServiceClient(options.address, options.credentials ?? grpc.credentials.createInsecure()));
    this.now = options.now ?? Date.now;
  }

  async token(): Promise<string> {
    if (this.cached && this.now() < this.cached.renewAt) return this.cached.token;
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  close(): void {
    this.client.raw.close();
  }

  private async fetch(): Promise<string> {
    const { clientId, clientSecret, audience, scope = "" } = this.options;
    const res = await this.client.issueToken(IssueTokenRequest.fromPartial({ client: { clientId, clientSecret }, audience, scope }));
    const early = Math.min(this.options.renewBeforeSeconds ?? 60, res.expiresIn / 2);
    this.cached = { token: res.accessToken, renewAt: this.now() + (res.expiresIn - early) * 1000 };
    return res.accessToken;
  }
}

/**
 * A grpc-js client interceptor adding `authorization: Bearer <token>` from a
 * token source (or a fixed token) to every call. Works on insecure loopback
 * channels, where grpc-js refuses call credentials.
 */
export function bearerInterceptor(source: TokenSource | (() => Promise<string>)): grpc.Interceptor {
  const get = typeof source === "function" ? source : () => source.token();
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        get().then(
          (token) => {
            metadata.set("authorization", `Bearer ${token}`);
            next(metadata, listener);
          },
          (err: Error) => {
            listener.onReceiveStatus?.({ code: grpc.status.UNAUTHENTICATED, details: `could not get a token: ${err.message}`, metadata: new grpc.Metadata() });
          },
        );
      },
    });
}
