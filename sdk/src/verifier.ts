/**
 * `createVerifier`: RFC 9068 access-token verification for resource servers,
 * against a cached JWKS, with the revocation watch and introspection as
 * options.
 *
 * @module
 */
import { compactVerify, decodeProtectedHeader, type ProtectedHeaderParameters } from "jose";
import { ASYMMETRIC_ALGORITHMS, checkAlgorithm, checkClaims, checkType, scopesOf, type AccessTokenClaims } from "./access_token.js";
import { authorizationToken } from "./bearer.js";
import { DEFAULT_DPOP_ALGS } from "./challenge.js";
import { systemClock, type Clock } from "./clock.js";
import { MetadataCache } from "./discovery.js";
import { InvalidOptionsError, TokenVerificationError } from "./errors.js";
import { trimSlash, type FetchLike } from "./fetch.js";
import { grpcIntrospection, httpIntrospection, type IntrospectionMode, type IntrospectionOptions, type IntrospectionTransport } from "./introspection.js";
import { MemoryDpopReplayCache, type DpopReplayStore, type MemoryDpopReplayCacheOptions } from "./dpop_verify.js";
import { issuedAtMs } from "./issued_at.js";
import { JwksCache } from "./jwks.js";
import {
  checkPresentation,
  confirmationOf,
  singleProof,
  type AuthorizationRequest,
  type Confirmation,
  type DpopVerification,
  type PresentationContext,
} from "./presentation.js";
import { RevocationWatch, type RevocationWatchOptions } from "./revocation_watch.js";
import type { AuthScheme } from "./errors.js";

/** How the verifier checks DPoP proofs of DPoP-bound tokens (RFC 9449 §7.1). */
export interface VerifierDpopOptions {
  /** A proof's `iat` is accepted within ±this many seconds of now (default 60). */
  proofWindowSeconds?: number;
  /** Accepted proof algorithms, asymmetric only (default ES256, EdDSA, RS256, PS256: what authz accepts). */
  algorithms?: readonly string[];
  /**
   * Where proof `jti`s are remembered for single use: bounds of the default
   * in-memory cache (100 000 entries, 16 MiB, oldest evicted first), or a
   * store of your own (e.g. shared between replicas).
   */
  replayCache?: MemoryDpopReplayCacheOptions | DpopReplayStore;
}

/** Options of {@link createVerifier}. */
export interface VerifierOptions {
  /** authz's issuer, exactly as in tokens' `iss` (e.g. `https://auth.example.com`). */
  issuer: string;
  /** This resource server's identifier: `aud` must contain it (or one of them). */
  audience: string | readonly string[];
  /**
   * Accepted algorithms, e.g. `["ES256"]`. Default: the metadata's
   * `access_token_signing_alg_values_supported` (asymmetric ones only), or
   * when absent each key's own `alg`. `none` and `HS*` are never accepted.
   */
  algorithms?: readonly string[];
  /** JWKS URL; default the metadata's `jwks_uri`, else `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Allowed clock skew for `exp`, `nbf`, `iat` (default 5 s). */
  clockToleranceSeconds?: number;
  /** An unknown `kid` refetches the JWKS at most once per this interval (default 30 s). */
  jwksRefetchIntervalSeconds?: number;
  /** The JWKS is refreshed in the background once this old (default 300 s, authz's `max-age`). */
  jwksMaxAgeSeconds?: number;
  /** Keys not refreshed for this long stop verifying (`ERR_JWKS_UNAVAILABLE`, 503) until a refresh succeeds (default 3600 s). */
  jwksMaxStaleSeconds?: number;
  /** After a failed metadata/JWKS fetch, callers fail at once for this long (default 1 s). */
  fetchFailureRetrySeconds?: number;
  /** Timeout of metadata and JWKS requests (default 5000 ms). */
  requestTimeoutMs?: number;
  /**
   * Longest token lifetime of any API server (default 30 days, authz's maximum).
   * With a watch, tokens living longer are refused: the local view keeps
   * revocations only that long.
   */
  maxTokenLifetimeSeconds?: number;
  /** Introspection fallback (see {@link IntrospectionOptions.mode}). */
  introspect?: IntrospectionOptions;
  /** Revocation watch: options (the verifier starts and owns it) or a watch you manage. */
  watch?: RevocationWatchOptions | RevocationWatch;
  /** DPoP proof checks for DPoP-bound tokens (on by default with these defaults). */
  dpop?: VerifierDpopOptions;
  /** `fetch` for metadata, JWKS and HTTP introspection (default `globalThis.fetch`). */
  fetch?: FetchLike;
  /** Injected clock (tests). */
  clock?: Clock;
}

/** A token that passed verification. */
export interface VerifiedToken {
  /** All claims of the token. */
  claims: AccessTokenClaims;
  /** Effective scopes: the `scope` claim, narrowed by token-claims-change events and introspection. */
  scopes: string[];
  clientId: string;
  subject: string;
  /** `aud` as a list. */
  audience: string[];
  jti: string;
  /** Issuance time, ms (from authz's jti, else `iat`). */
  issuedAtMs: number;
  /** `exp`, ms. */
  expiresAt: number;
  /** Whether introspection was consulted. */
  introspected: boolean;
  /** The scheme the token was presented with: `DPoP` when verified with a DPoP presentation. */
  scheme: AuthScheme;
  /** What the token is bound to (`cnf`, RFC 7800), checked against the presentation; undefined for a bearer token. */
  confirmation: Confirmation | undefined;
}

/** Verifies authz access tokens. */
export interface Verifier {
  /**
   * Verifies a token; rejects with a {@link TokenVerificationError}. With
   * `context`, how it was presented: the TLS client certificate (required for
   * certificate-bound tokens, RFC 8705 §3) and, for `Authorization: DPoP`, the
   * proof with the request's method and URL (required for DPoP-bound tokens,
   * RFC 9449 §7.1). Without `context.dpop` a DPoP-bound token is refused.
   */
  verify(token: string, context?: PresentationContext): Promise<VerifiedToken>;
  /**
   * Verifies the token of an `Authorization` header value, `Bearer` or `DPoP`
   * (missing -> `ERR_TOKEN_MISSING`). `request` gives the method, URL, `DPoP`
   * header and TLS client certificate the header came with.
   */
  verifyAuthorization(header: string | readonly string[] | undefined | null, request?: AuthorizationRequest): Promise<VerifiedToken>;
  /** Proof algorithms accepted, for `algs` of DPoP challenges. */
  readonly dpopAlgorithms: readonly string[];
  /** The revocation watch, if configured. */
  readonly watch: RevocationWatch | undefined;
  /** Stops the watch it owns and closes connections. */
  close(): Promise<void>;
}

/**
 * Creates a verifier performing the RFC 9068 §4 checks locally: `typ`
 * `at+jwt`, pinned asymmetric algorithm, signature against the issuer's JWKS
 * (cached; an unknown `kid` refetches at most once per interval), `iss`, `aud`,
 * `exp` / `nbf` / `iat` with tolerance, `sub`, `client_id`, `jti`. Then, if
 * configured, the revocation watch's view (`ERR_TOKEN_REVOKED`, narrowed
 * scopes, `ERR_REVOCATION_WATCH_DOWN` when stale and failing closed) and
 * introspection.
 *
 * ```ts
 * const verifier = createVerifier({ issuer: "https://auth.example.com", audience: "https://orders.example.com" });
 * const { clientId, scopes } = await verifier.verify(token);
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  if (!options.issuer) throw new InvalidOptionsError("verifier needs issuer");
  const audiences = typeof options.audience === "string" ? [options.audience] : [...(options.audience ?? [])];
  if (!audiences.length || audiences.some((a) => !a)) throw new InvalidOptionsError("verifier needs audience");
  for (const alg of options.algorithms ?? []) {
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) throw new InvalidOptionsError(`algorithm ${alg} cannot be accepted (none and HS* never are)`);
  }
  const issuer = options.issuer;
  const clock = options.clock ?? systemClock;
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const timeoutMs = options.requestTimeoutMs ?? 5_000;
  const failureRetryMs = (options.fetchFailureRetrySeconds ?? 1) * 1000;
  const toleranceMs = (options.clockToleranceSeconds ?? 5) * 1000;
  const maxLifetimeMs = (options.maxTokenLifetimeSeconds ?? 30 * 86_400) * 1000;
  const metadata = new MetadataCache(issuer, { fetch: fetchImpl, clock, timeoutMs, failureRetryMs });
  const pinned = options.algorithms ? new Set(options.algorithms) : undefined;

  const jwks = new JwksCache({
    uri: async () => options.jwksUri ?? (await metadata.get()).jwks_uri ?? `${trimSlash(issuer)}/.well-known/jwks.json`,
    fetch: fetchImpl,
    clock,
    refetchIntervalMs: (options.jwksRefetchIntervalSeconds ?? 30) * 1000,
    maxAgeMs: (options.jwksMaxAgeSeconds ?? 300) * 1000,
    maxStaleMs: (options.jwksMaxStaleSeconds ?? 3600) * 1000,
    failureRetryMs,
    timeoutMs,
  });

  /** The accepted algorithms, or undefined: each key's own `alg`. */
  const algorithms = async (): Promise<ReadonlySet<string> | undefined> => {
    if (pinned) return pinned;
    const listed = (await metadata.get()).access_token_signing_alg_values_supported;
    return Array.isArray(listed) ? new Set(listed.filter((a) => ASYMMETRIC_ALGORITHMS.has(a))) : undefined;
  };

  let watch: RevocationWatch | undefined;
  let ownsWatch = false;
  if (options.watch instanceof RevocationWatch) watch = options.watch.start();
  else if (options.watch) {
    watch = new RevocationWatch({ clock, fetch: options.fetch, maxTokenLifetimeSeconds: options.maxTokenLifetimeSeconds, ...options.watch }).start();
    ownsWatch = true;
  }

  let introspection: IntrospectionTransport | undefined;
  let mode: IntrospectionMode | undefined;
  if (options.introspect) {
    const i = options.introspect;
    if (!i.transport && (!i.clientId || !i.clientSecret)) throw new InvalidOptionsError("introspect needs clientId and clientSecret");
    mode = i.mode ?? (watch ? "on-revocation-watch-down" : "always");
    introspection =
      i.transport ??
      (i.address
        ? grpcIntrospection({ address: i.address, credentials: i.credentials, clientId: i.clientId, clientSecret: i.clientSecret })
        : httpIntrospection({
            endpoint: async () => i.endpoint ?? metadata.peek()?.introspection_endpoint ?? `${trimSlash(issuer)}/oauth/introspect`,
            clientId: i.clientId,
            clientSecret: i.clientSecret,
            fetch: fetchImpl,
          }));
  }
  const introspectTimeoutMs = options.introspect?.timeoutMs ?? 5_000;

  const dpopAlgorithms = [...(options.dpop?.algorithms ?? DEFAULT_DPOP_ALGS)];
  for (const alg of dpopAlgorithms) {
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) throw new InvalidOptionsError(`DPoP proof algorithm ${alg} cannot be accepted (asymmetric only)`);
  }
  const windowSeconds = options.dpop?.proofWindowSeconds ?? 60;
  if (!(windowSeconds > 0)) throw new InvalidOptionsError("dpop.proofWindowSeconds must be positive");
  const replayCache = options.dpop?.replayCache;
  const dpop: DpopVerification = {
    windowSeconds,
    algorithms: new Set(dpopAlgorithms),
    replay: replayCache && "consume" in replayCache ? replayCache : new MemoryDpopReplayCache(replayCache),
  };

  async function verify(token: string, context?: PresentationContext): Promise<VerifiedToken> {
    try {
      return await verifyPresented(token, context);
    } catch (err) {
      // A token presented with the DPoP scheme is challenged with it (RFC 9449 §7.1).
      if (context?.dpop && err instanceof TokenVerificationError) throw err.withScheme("DPoP");
      throw err;
    }
  }

  async function verifyPresented(token: string, context: PresentationContext | undefined): Promise<VerifiedToken> {
    if (typeof token !== "string" || token === "") throw new TokenVerificationError("ERR_TOKEN_MISSING", "no bearer token");
    let header: ProtectedHeaderParameters;
    try {
      if (token.split(".").length !== 3) throw new Error("not a compact JWS");
      header = decodeProtectedHeader(token);
    } catch (err) {
      throw new TokenVerificationError("ERR_TOKEN_MALFORMED", "the token is not a JWT", { cause: err });
    }
    checkType(header);
    const alg = checkAlgorithm(header, undefined); // none / HS* fail before any fetch
    const allowed = await algorithms();
    checkAlgorithm(header, allowed);
    if (typeof header.kid !== "string" || header.kid === "") throw new TokenVerificationError("ERR_TOKEN_MALFORMED", "the token header has no kid");
    const key = await jwks.get(header.kid);
    // Pinned to the key: a key's own alg must match, and without a list only the key's alg is accepted.
    if ((key.alg !== undefined && key.alg !== alg) || (allowed === undefined && key.alg === undefined)) {
      throw new TokenVerificationError("ERR_TOKEN_ALG", "the token's algorithm is not its key's");
    }
    const cryptoKey = await jwks.importKey(key, alg);
    let payloadBytes: Uint8Array;
    try {
      payloadBytes = (await compactVerify(token, cryptoKey, { algorithms: [alg] })).payload;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ERR_JWS_INVALID") throw new TokenVerificationError("ERR_TOKEN_MALFORMED", "the token is not a valid JWS", { cause: err });
      throw new TokenVerificationError("ERR_TOKEN_SIGNATURE", "the token's signature is invalid", { cause: err });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(new TextDecoder().decode(payloadBytes));
    } catch (err) {
      throw new TokenVerificationError("ERR_TOKEN_MALFORMED", "the token's payload is not JSON", { cause: err });
    }
    const now = clock.now();
    const claims = checkClaims(payload, { issuer, audiences, now, toleranceMs });
    const issued = issuedAtMs(claims)!;
    const expiresAt = claims.exp * 1000;
    const audience = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
    // Sender constraint before any network hop: a stolen bound token is refused locally.
    const confirmation = confirmationOf(claims);
    await checkPresentation(token, confirmation, context, dpop, now);
    let scopes = scopesOf(claims);
    let needIntrospection = mode === "always";

    if (watch) {
      if (expiresAt - issued > maxLifetimeMs + toleranceMs)
        throw new TokenVerificationError("ERR_TOKEN_EXPIRED", "the token's lifetime exceeds maxTokenLifetimeSeconds");
      const verdict = watch.check({ jti: claims.jti, clientId: claims.client_id, audience, issuedAtMs: issued, expiresAtMs: expiresAt, scopes });
      if (verdict.status === "revoked") throw new TokenVerificationError("ERR_TOKEN_REVOKED", "the access token was revoked");
      if (verdict.status !== "stale") scopes = verdict.scopes;
      if (verdict.status === "stale" || verdict.status === "unknown") {
        if (introspection)
          needIntrospection = true; // either mode: introspection vouches instead
        else if (watch.failMode === "closed")
          throw new TokenVerificationError("ERR_REVOCATION_WATCH_DOWN", "revocation status is unknown: the revocation watch is down");
      }
    }

    if (needIntrospection && introspection) {
      const result = await introspection.introspect(token, { timeoutMs: introspectTimeoutMs });
      if (!result.active || (result.jti !== undefined && result.jti !== claims.jti))
        throw new TokenVerificationError("ERR_TOKEN_REVOKED", "the access token is not active");
      // The binding authz reports must be the one checked (a token cannot lose its binding on the way).
      if (result.cnf && (result.cnf["x5t#S256"] !== confirmation?.["x5t#S256"] || result.cnf.jkt !== confirmation?.jkt))
        throw new TokenVerificationError("ERR_TOKEN_CONFIRMATION", "the token's binding differs from the one introspection reports", { claim: "cnf" });
      if (result.scope !== undefined) {
        const active = new Set(result.scope.split(" "));
        scopes = scopes.filter((s) => active.has(s));
      }
    }

    return {
      claims,
      scopes,
      clientId: claims.client_id,
      subject: claims.sub,
      audience,
      jti: claims.jti,
      issuedAtMs: issued,
      expiresAt,
      introspected: needIntrospection && introspection !== undefined,
      scheme: context?.dpop ? "DPoP" : "Bearer",
      confirmation,
    };
  }

  async function verifyAuthorization(header: string | readonly string[] | undefined | null, request: AuthorizationRequest = {}): Promise<VerifiedToken> {
    const { scheme, token } = authorizationToken(header);
    const certificate = request.certificate;
    if (scheme === "Bearer") return verify(token, { certificate });
    // No method or URL from the caller: nothing can match the proof's htm / htu (ERR_DPOP_PROOF_MISMATCH).
    return verify(token, { certificate, dpop: { proof: singleProof(request.dpop), htm: request.method ?? "", htu: request.url ?? "" } });
  }

  return {
    verify,
    verifyAuthorization,
    dpopAlgorithms,
    watch,
    async close() {
      if (ownsWatch) await watch?.stop();
      introspection?.close?.();
    },
  };
}
