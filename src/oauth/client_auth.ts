import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWK } from "jose";
import type { X509Certificate } from "node:crypto";
import { CLIENT_ID, SECRET_AUTH_METHODS, TLS_AUTH_METHODS, type AuthMethod } from "../domain/constants.js";
import { certificateMatches, type TlsClientAuthMetadata } from "../domain/tls_client_auth.js";
import { parsePresented, verifyChain } from "./mtls/certificates.js";
import { certificateInJwks } from "./mtls/self_signed.js";
import { ResourceExhausted } from "../errors.js";
import { inSpan, type Context } from "../tracing.js";
import type { PresentedCredential } from "./credentials.js";
import { InvalidClient, InvalidRequest } from "./errors.js";
import type { ClientGuard } from "./guard.js";

/** RFC 7523 §2.2 */
export const JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Assertions may live at most this long (RFC 7523 §3 asks for a bounded `exp`). */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/**
 * JWS algorithms accepted for client assertions. `Ed25519` is the fully
 * specified name (RFC 9864) that openid-client signs Ed25519 keys with; `EdDSA`
 * the older polymorphic one. Never `none` or a symmetric one.
 */
export const ASSERTION_ALGS = ["ES256", "ES384", "RS256", "PS256", "EdDSA", "Ed25519"] as const;
const MAX_JTI_LENGTH = 256;

export type { AuthMethod };

/** The part of a client that authentication and grants need. */
export interface AuthenticatedClient {
  clientId: string;
  tokenEndpointAuthMethod: AuthMethod;
  grantTypes: string[];
  dynamic: boolean;
  /** Tokens issued before this time (epoch ms) are invalid (secret revoked, client disabled). */
  tokensValidAfter: number;
  /** Free-form labels; `authz.rate_limit_per_second` and `authz.rate_limit_burst` override the token-endpoint limit. */
  metadata?: Readonly<Record<string, string>>;
  /** RFC 8705 §2.1.2: the certificate value naming a tls_client_auth client. */
  tlsClientAuth?: TlsClientAuthMetadata;
  /** RFC 8705 §3.4: its tokens are bound to its TLS client certificate. */
  certificateBoundTokens?: boolean;
  /** RFC 9449 §5.2: its token requests carry a DPoP proof. */
  dpopBoundTokens?: boolean;
}

/** What client authentication needs from the client registry (narrow on purpose). */
export interface ClientDirectory {
  /**
   * The enabled client when `secret` matches one of its live secrets; undefined
   * otherwise (unknown client, wrong or expired secret, disabled: all alike).
   * A store fault is thrown, never reported as bad credentials.
   */
  authenticateSecret(clientId: string, secret: string): Promise<AuthenticatedClient | undefined>;
  /** An enabled client with its registered JWK Set, for private_key_jwt and the mTLS methods. */
  findForAssertion(clientId: string): Promise<(AuthenticatedClient & { jwks?: JSONWebKeySet }) | undefined>;
  /**
   * Records an assertion `jti` until `keepUntil` (epoch s); false when it was
   * already used (RFC 7523 §3 replay). One unique insert: across replicas, a
   * jti is accepted once.
   */
  consumeAssertionJti(clientId: string, jti: string, keepUntil: number): Promise<boolean>;
}

export interface ClientAuthContext {
  /** Accepted `aud` values of assertions: the issuer and the token endpoint URL (RFC 7523 §3). */
  audiences: string[];
  nowSeconds: number;
  /** Leeway for clock skew on assertion `exp`/`nbf`/`iat` (RFC 7523 §3: "a small leeway"). */
  clockToleranceSeconds: number;
  /** The caller's address (CallContext.peer), for failed-authentication throttling; "" when unknown. */
  source?: string;
  /** Failed-authentication throttling; none: unthrottled. */
  guard?: ClientGuard;
  /** The call's trace context: the parent of this step's span; none: not traced. */
  trace?: Context;
  /** RFC 8705 §2.1: the CA certificates tls_client_auth chains must end in (the configured client CA); none: tls_client_auth fails. */
  trustAnchors?: () => readonly X509Certificate[];
}

/**
 * Authenticates the client by the one method it presented. A secret is
 * accepted from either secret method (Basic header or request body: the same
 * secret, as Keycloak does) for a client registered with a secret method; the
 * registered method is what metadata reports. A private_key_jwt client must
 * sign an assertion. The client id is checked before any lookup.
 *
 * Guessing costs time, the real client nothing (`ctx.guard`): a source over
 * its failure budget is refused (slow_down, Retry-After) before its
 * credentials are checked; a failure for a client id over its budget is
 * answered slow_down and refuses its source for a while. Successes are never
 * counted or delayed, so the holder of the secret keeps getting tokens from
 * any source that is not itself failing.
 */
export function authenticateClient(credential: PresentedCredential, directory: ClientDirectory, ctx: ClientAuthContext): Promise<AuthenticatedClient> {
  return inSpan(ctx.trace, "oauth.authenticate_client", async (span) => {
    const { guard } = ctx;
    const source = ctx.source ?? "";
    if (span.isRecording()) span.setAttribute("oauth.client_auth.method", credential.method);
    const wait = guard?.sourceWait(source) ?? 0;
    if (wait > 0) throw new ResourceExhausted("too many failed client authentications from this address; retry later", wait, "auth_failures_source");
    try {
      return await check(credential, directory, ctx);
    } catch (err) {
      if (!(err instanceof InvalidClient) || !guard) throw err;
      const throttled = guard.failed(claimedClientId(credential), source);
      if (throttled > 0) throw new ResourceExhausted("too many failed client authentications; retry later", throttled, "auth_failures_client", err);
      throw err;
    }
  });
}

async function check(credential: PresentedCredential, directory: ClientDirectory, ctx: ClientAuthContext): Promise<AuthenticatedClient> {
  switch (credential.method) {
    case "none":
      throw new InvalidClient("no client authentication", false, "no_credentials");
    case "secret": {
      if (!CLIENT_ID.test(credential.clientId)) throw new InvalidClient("malformed client_id", credential.viaHeader, "malformed_credentials");
      const client = await directory.authenticateSecret(credential.clientId, credential.secret);
      if (!client) throw new InvalidClient("unknown client, wrong secret or disabled", credential.viaHeader, "bad_credentials");
      if (!SECRET_AUTH_METHODS.includes(client.tokenEndpointAuthMethod)) throw new InvalidClient(`client registered ${client.tokenEndpointAuthMethod}`, credential.viaHeader, "method_mismatch");
      return client;
    }
    case "tls":
      return certificateAuth(credential, directory, ctx);
    case "assertion":
      return assertionAuth(credential, directory, ctx);
  }
}

/** The client id a failed attempt named (for its failure budget): as presented, not verified. */
function claimedClientId(credential: PresentedCredential): string | undefined {
  if (credential.method === "assertion") return credential.clientId ?? peekIssuer(credential.assertion);
  return credential.clientId;
}

/**
 * RFC 8705 §2: the client is who its TLS client certificate says, for the
 * method it registered. tls_client_auth (§2.1): the chain ends in the
 * configured client CA and the certificate carries the registered subject DN
 * or SAN value. self_signed_tls_client_auth (§2.2): the certificate is one of
 * the client's registered keys (x5c or public key), and within its dates.
 */
async function certificateAuth(credential: Extract<PresentedCredential, { method: "tls" }>, directory: ClientDirectory, ctx: ClientAuthContext): Promise<AuthenticatedClient> {
  if (!CLIENT_ID.test(credential.clientId)) throw new InvalidClient("malformed client_id", false, "malformed_credentials");
  const client = await directory.findForAssertion(credential.clientId);
  if (!client) throw new InvalidClient("unknown client or disabled", false, "bad_credentials");
  if (!TLS_AUTH_METHODS.includes(client.tokenEndpointAuthMethod)) throw new InvalidClient(`client registered ${client.tokenEndpointAuthMethod}`, false, "method_mismatch");
  const presented = parsePresented(credential.certificate);
  if (!presented) throw new InvalidClient("client certificate does not parse", false, "certificate_invalid");
  const nowMs = ctx.nowSeconds * 1000;
  const ok =
    client.tokenEndpointAuthMethod === "tls_client_auth"
      ? client.tlsClientAuth !== undefined && verifyChain(presented.leaf, presented.intermediates, [...(ctx.trustAnchors?.() ?? [])], nowMs) && certificateMatches(presented.leaf, client.tlsClientAuth)
      : client.jwks !== undefined && (await certificateInJwks(presented.leaf, client.jwks as { keys: JWK[] }, nowMs));
  if (!ok) throw new InvalidClient(`client certificate not accepted for ${client.tokenEndpointAuthMethod}`, false, "certificate_invalid");
  return client;
}

/** RFC 7523 §2.2 / §3: private_key_jwt. */
async function assertionAuth(credential: Extract<PresentedCredential, { method: "assertion" }>, directory: ClientDirectory, ctx: ClientAuthContext): Promise<AuthenticatedClient> {
  if (credential.assertionType !== JWT_BEARER_ASSERTION) {
    throw new InvalidRequest("unsupported client_assertion_type", `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
  }
  if (!credential.assertion) throw new InvalidRequest("missing client_assertion", "missing required parameter client_assertion");
  const unverifiedIss = peekIssuer(credential.assertion);
  const clientId = credential.clientId ?? unverifiedIss;
  if (!clientId || clientId !== unverifiedIss) throw new InvalidClient("assertion iss missing or differs from client_id", false, "assertion_invalid");
  if (!CLIENT_ID.test(clientId)) throw new InvalidClient("malformed client_id", false, "malformed_credentials");
  const client = await directory.findForAssertion(clientId);
  if (!client?.jwks) throw new InvalidClient("unknown client or no registered jwks", false, "bad_credentials");
  if (client.tokenEndpointAuthMethod !== "private_key_jwt") throw new InvalidClient(`client registered ${client.tokenEndpointAuthMethod}`, false, "method_mismatch");
  let payload;
  try {
    ({ payload } = await jwtVerify(credential.assertion, createLocalJWKSet(withBothEd25519Names(client.jwks)), {
      algorithms: [...ASSERTION_ALGS],
      issuer: clientId,
      subject: clientId,
      audience: ctx.audiences,
      currentDate: new Date(ctx.nowSeconds * 1000),
      requiredClaims: ["exp", "jti"],
      clockTolerance: ctx.clockToleranceSeconds,
    }));
  } catch (err) {
    throw new InvalidClient(`assertion rejected: ${(err as Error).message}`, false, "assertion_invalid");
  }
  const exp = payload.exp!;
  if (exp - ctx.nowSeconds > MAX_ASSERTION_LIFETIME_SECONDS) throw new InvalidClient("assertion exp too far in the future", false, "assertion_invalid");
  // RFC 7523 §3: the jti is a unique identifier; an empty one identifies nothing.
  if (typeof payload.jti !== "string" || payload.jti === "" || payload.jti.length > MAX_JTI_LENGTH) throw new InvalidClient("assertion jti empty or not a short string", false, "assertion_invalid");
  // Kept for as long as the assertion can be accepted at all (exp plus the leeway), so no purge reopens it.
  if (!(await directory.consumeAssertionJti(clientId, payload.jti, exp + ctx.clockToleranceSeconds))) throw new InvalidClient("assertion jti replayed", false, "assertion_replayed");
  return client;
}

/**
 * A registered Ed25519 key marked `alg: EdDSA` (or `Ed25519`) verifies
 * assertions signed under either name: they are the same algorithm (RFC 9864 §2.2).
 */
function withBothEd25519Names(jwks: JSONWebKeySet): JSONWebKeySet {
  const keys: JWK[] = [];
  for (const key of jwks.keys) {
    keys.push(key);
    if (key.kty === "OKP" && key.crv === "Ed25519" && (key.alg === "EdDSA" || key.alg === "Ed25519")) keys.push({ ...key, alg: key.alg === "EdDSA" ? "Ed25519" : "EdDSA" });
  }
  return { keys };
}

function peekIssuer(jwt: string): string | undefined {
  try {
    const { iss } = decodeJwt(jwt);
    return typeof iss === "string" ? iss : undefined;
  } catch {
    return undefined;
  }
}
