/**
 * `@authz/sdk`: promise clients for every authz service, a token source for
 * services that call APIs (bearer or DPoP-bound tokens), a verifier (RFC 9068,
 * JWKS, revocation watch, introspection, RFC 8705 / RFC 9449 sender
 * constraints) for resource servers, and a grpc-js server interceptor.
 * Express and Fastify middleware are in `@authz/sdk/express` and
 * `@authz/sdk/fastify`; generated messages in `@authz/sdk/gen/...`.
 *
 * @packageDocumentation
 */

// Errors
export {
  AuthzError,
  InvalidOptionsError,
  RevocationWatchError,
  TokenSourceError,
  TokenVerificationError,
  VERIFICATION_ERRORS,
  type AuthScheme,
  type ChallengeError,
  type RevocationWatchErrorCode,
  type TokenSourceErrorCode,
  type VerificationErrorCode,
  type VerificationErrorMapping,
} from "./errors.js";

// Clients
export { createAuthzClients, type AuthzClients, type AuthzClientsOptions } from "./clients.js";
export { promiseClient, type DeepPartial, type PromiseClient, type RequestBuilders, type RpcOptions } from "./promise_client.js";
export { rpcErrorDetails, grpcRetryAfterMs, parseRetryAfter, type RpcErrorDetails } from "./rpc_status.js";
export { authorizationInterceptor, bearerInterceptor, type BearerInterceptorOptions, type TokenProvider } from "./bearer_interceptor.js";

// Token source
export {
  TokenSource,
  type DpopProofTarget,
  type GrpcInterceptorOptions,
  type TokenRetryOptions,
  type TokenSourceOptions,
  type TokenTarget,
} from "./token_source.js";
export { createDpopProof, generateDpopKey, type DpopAlgorithm, type DpopKey, type DpopProofClaims } from "./dpop.js";
export {
  grpcTokenTransport,
  httpTokenTransport,
  type GrpcTokenTransportOptions,
  type HttpTokenTransportOptions,
  type TokenRequest,
  type TokenResponse,
  type TokenTransport,
} from "./token_transport.js";

// Verifier
export { createVerifier, type Verifier, type VerifiedToken, type VerifierDpopOptions, type VerifierOptions } from "./verifier.js";
export { ASYMMETRIC_ALGORITHMS, type AccessTokenClaims } from "./access_token.js";
export { authorizationToken, bearerToken, type PresentedToken } from "./bearer.js";
export {
  certificateThumbprint,
  tlsPeerCertificate,
  type AuthorizationRequest,
  type ClientCertificate,
  type Confirmation,
  type DpopPresentation,
  type PresentationContext,
} from "./presentation.js";
export {
  accessTokenHash,
  MemoryDpopReplayCache,
  verifyDpopProof,
  type DpopProofCheck,
  type DpopReplayStore,
  type MemoryDpopReplayCacheOptions,
  type VerifiedDpopProof,
} from "./dpop_verify.js";
export { hasScopes, requireScopes } from "./scopes.js";
export { issuedAtMs, jtiIssuedAtMs } from "./issued_at.js";
export { metadataUrl, type ServerMetadata } from "./discovery.js";
export {
  grpcIntrospection,
  httpIntrospection,
  type IntrospectionMode,
  type IntrospectionOptions,
  type IntrospectionResult,
  type IntrospectionTransport,
} from "./introspection.js";

// Revocation watch
export { RevocationWatch, type FailMode, type RevocationWatchOptions, type RevocationWatchStatus, type WatchVerdict } from "./revocation_watch.js";
export { CAEP_EVENT_TYPES, RevocationView, type RevocationViewOptions, type TokenFacts, type ViewVerdict } from "./revocation_view.js";
export { grpcWatchTransport, httpWatchTransport, type WatchStream, type WatchTransport } from "./watch_transport.js";

// Answers and middleware
export { DEFAULT_DPOP_ALGS, refusal, wwwAuthenticate, type ChallengeOptions, type Refusal } from "./challenge.js";
export { grpcAuth, grpcServerAuth, type GrpcServerAuthOptions } from "./middleware/grpc.js";

// Utilities
export { systemClock, type Clock } from "./clock.js";
export { backoffDelay, type BackoffOptions } from "./backoff.js";
export type { FetchLike } from "./fetch.js";
