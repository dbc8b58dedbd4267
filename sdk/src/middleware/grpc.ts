/**
 * grpc-js server interceptor: verifies the bearer token of each call and
 * checks the method's scopes before any handler runs.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { wwwAuthenticate, type ChallengeOptions } from "../challenge.js";
import { TokenVerificationError } from "../errors.js";
import { trimSlash } from "../fetch.js";
import { requireScopes } from "../scopes.js";
import type { Verifier, VerifiedToken } from "../verifier.js";

/** Options of {@link grpcServerAuth}. */
export interface GrpcServerAuthOptions extends ChallengeOptions {
  /** Scopes each method needs (all of them), by path: `{ "/orders.v1.Orders/ListOrders": ["orders:read"] }`. */
  scopes: Readonly<Record<string, readonly string[]>>;
  /** Methods served without a token (health checks, reflection...). */
  publicMethods?: readonly string[];
  /**
   * Methods in neither list: `"deny"` (default; PERMISSION_DENIED, nothing is
   * served unprotected by omission) or the scopes they need (`[]`: any valid token).
   */
  otherMethods?: "deny" | readonly string[];
  /**
   * For DPoP-bound tokens (`authorization: DPoP <token>` and a `dpop` proof in
   * the metadata): proofs must have `htm` POST and `htu` `<baseUrl><method path>`.
   * Default `https://<:authority>` on TLS, `http://<:authority>` otherwise.
   */
  baseUrl?: string;
  /**
   * The TLS client certificate of a call, for certificate-bound tokens.
   * Default: the peer certificate of the call's TLS connection (`getAuthContext()`).
   */
  clientCertificate?: (call: grpc.ServerInterceptingCallInterface) => Buffer | undefined;
}

const verified = new WeakMap<grpc.Metadata, VerifiedToken>();

/**
 * The verified token of a call, in a handler behind {@link grpcServerAuth}
 * (`grpcAuth(call)`); undefined for public methods.
 */
export function grpcAuth(call: { metadata: grpc.Metadata }): VerifiedToken | undefined {
  return verified.get(call.metadata);
}

const STATUS: Record<401 | 403 | 503, grpc.status> = {
  401: grpc.status.UNAUTHENTICATED,
  403: grpc.status.PERMISSION_DENIED,
  503: grpc.status.UNAVAILABLE,
};

/**
 * A grpc-js server interceptor (`new grpc.Server({ interceptors: [grpcServerAuth(verifier, { scopes })] })`):
 * verifies `authorization: Bearer` (or `DPoP` with a `dpop` proof; the TLS
 * client certificate for certificate-bound tokens) and the method's scopes. Refusals are
 * UNAUTHENTICATED / PERMISSION_DENIED with the RFC 6750 challenge in the
 * trailing `www-authenticate` metadata, or UNAVAILABLE (watch down, JWKS
 * unavailable). Handlers read the token with {@link grpcAuth}.
 */
export function grpcServerAuth(verifier: Verifier, options: GrpcServerAuthOptions): grpc.ServerInterceptor {
  const answer: GrpcServerAuthOptions = { dpopAlgs: verifier.dpopAlgorithms, ...options };
  const publicMethods = new Set(options.publicMethods ?? []);
  const other = options.otherMethods ?? "deny";
  return (methodDescriptor, call) => {
    const path = methodDescriptor.path;
    const scopes = options.scopes[path] ?? (other === "deny" ? undefined : other);
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            if (publicMethods.has(path)) return mdNext(metadata);
            if (!scopes) return refuse(call, new TokenVerificationError("ERR_INSUFFICIENT_SCOPE", "this method is not open to tokens", { scope: "" }), answer);
            Promise.resolve()
              .then(() => {
                const auth = call.getAuthContext?.();
                const secure = auth?.transportSecurityType === "ssl";
                const base = options.baseUrl ? trimSlash(options.baseUrl) : `${secure ? "https" : "http"}://${call.getHost()}`;
                const certificate = options.clientCertificate ? options.clientCertificate(call) : auth?.sslPeerCertificate?.raw;
                return verifier.verifyAuthorization(metadata.get("authorization").map(String), {
                  method: "POST",
                  url: `${base}${path}`,
                  dpop: metadata.get("dpop").map(String),
                  certificate: certificate && certificate.length ? certificate : undefined,
                });
              })
              .then((token) => {
                requireScopes(token, scopes);
                verified.set(metadata, token);
                mdNext(metadata);
              })
              .catch((err: unknown) => refuse(call, err, answer));
          },
        });
      },
    });
  };
}

function refuse(call: grpc.ServerInterceptingCallInterface, err: unknown, options: ChallengeOptions): void {
  const metadata = new grpc.Metadata();
  if (!(err instanceof TokenVerificationError)) {
    call.sendStatus({ code: grpc.status.UNAVAILABLE, details: "token verification failed", metadata });
    return;
  }
  if (err.status !== 503) metadata.set("www-authenticate", wwwAuthenticate(err, options));
  call.sendStatus({ code: STATUS[err.status], details: err.message, metadata });
}
