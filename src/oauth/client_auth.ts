import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { InvalidClient, InvalidRequest } from "./errors.js";
import type { Params } from "./params.js";

/** RFC 7523 §2.2 */
export const JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Assertions may live at most this long (RFC 7523 §3 asks for a bounded `exp`). */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;
const ASSERTION_ALGS = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

export type AuthMethod = "client_secret_basic" | "client_secret_post" | "private_key_jwt";

/** The part of a client that authentication and grants need. */
export interface AuthenticatedClient {
  clientId: string;
  tokenEndpointAuthMethod: AuthMethod;
  grantTypes: string[];
  dynamic: boolean;
  /** Tokens issued before this time (epoch ms) are invalid (secret revoked, client disabled). */
  tokensValidAfter: number;
}

/** What client authentication needs from the client registry (narrow on purpose). */
export interface ClientDirectory {
  /** Returns the client when the secret matches a live secret of an enabled client; throws otherwise. */
  authenticateSecret(clientId: string, secret: string): AuthenticatedClient;
  /** An enabled client with its registered JWK Set, for private_key_jwt. */
  findForAssertion(clientId: string): (AuthenticatedClient & { jwks?: JSONWebKeySet }) | undefined;
  /** Records an assertion `jti` until `exp`; false when it was already used (RFC 7523 §3 replay). */
  consumeAssertionJti(clientId: string, jti: string, expSeconds: number): boolean;
}

export interface ClientCredentialsInput {
  /** The HTTP Authorization header, if any. */
  authorization?: string;
  params: Params;
  /**
   * Typed gRPC callers send a secret as a message field: there is no Basic vs
   * body distinction, so either registered secret method accepts it.
   */
  typed?: boolean;
}

export interface ClientAuthContext {
  /** Accepted `aud` values of assertions: the issuer and the token endpoint URL (RFC 7523 §3). */
  audiences: string[];
  nowSeconds: number;
}

/**
 * Authenticates the client by exactly one method (RFC 6749 §2.3: a client
 * MUST NOT use more than one) and checks it is the method it registered.
 */
export async function authenticateClient(
  input: ClientCredentialsInput,
  directory: ClientDirectory,
  ctx: ClientAuthContext,
): Promise<AuthenticatedClient> {
  const basic = parseBasic(input.authorization);
  const hasPostSecret = input.params.has("client_secret");
  const hasAssertion = input.params.has("client_assertion") || input.params.has("client_assertion_type");
  const methods = Number(basic !== undefined) + Number(hasPostSecret) + Number(hasAssertion);
  if (methods > 1) throw new InvalidRequest("more than one client authentication method", "use exactly one client authentication method");
  if (methods === 0) throw new InvalidClient("no client authentication");

  if (basic) {
    const bodyClientId = input.params.get("client_id");
    if (bodyClientId !== undefined && bodyClientId !== basic.clientId) throw new InvalidRequest("client_id differs from Basic credentials", "client_id does not match the authenticated client");
    return expectMethod(secretAuth(directory, basic.clientId, basic.secret, true), "client_secret_basic", true, input.typed);
  }
  if (hasPostSecret) {
    const clientId = input.params.get("client_id");
    if (!clientId) throw new InvalidClient("client_secret without client_id");
    return expectMethod(secretAuth(directory, clientId, input.params.get("client_secret")!, false), "client_secret_post", false, input.typed);
  }
  return assertionAuth(input.params, directory, ctx);
}

function secretAuth(directory: ClientDirectory, clientId: string, secret: string, viaHeader: boolean): AuthenticatedClient {
  try {
    return directory.authenticateSecret(clientId, secret);
  } catch (err) {
    throw new InvalidClient((err as Error).message, viaHeader);
  }
}

function expectMethod(client: AuthenticatedClient, used: AuthMethod, viaHeader: boolean, typed = false): AuthenticatedClient {
  if (typed && client.tokenEndpointAuthMethod !== "private_key_jwt") return client;
  if (client.tokenEndpointAuthMethod !== used) {
    throw new InvalidClient(`client registered ${client.tokenEndpointAuthMethod} but used ${used}`, viaHeader);
  }
  return client;
}

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
export function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) {
    if (/^Basic\b/i.test(header)) throw new InvalidClient("malformed Basic header", true);
    return undefined; // another scheme (e.g. Bearer) is not client authentication
  }
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new InvalidClient("Basic credentials without a colon", true);
  try {
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
    };
  } catch {
    throw new InvalidClient("Basic credentials with broken percent-encoding", true);
  }
}

/** RFC 7523 §2.2 / §3: private_key_jwt. */
async function assertionAuth(params: Params, directory: ClientDirectory, ctx: ClientAuthContext): Promise<AuthenticatedClient> {
  if (params.get("client_assertion_type") !== JWT_BEARER_ASSERTION) {
    throw new InvalidRequest("unsupported client_assertion_type", "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  }
  const assertion = params.get("client_assertion");
  if (!assertion) throw new InvalidRequest("missing client_assertion", "missing required parameter client_assertion");
  const unverifiedIss = peekIssuer(assertion);
  const clientId = params.get("client_id") ?? unverifiedIss;
  if (!clientId || clientId !== unverifiedIss) throw new InvalidClient("assertion iss missing or differs from client_id");
  const client = directory.findForAssertion(clientId);
  if (!client?.jwks) throw new InvalidClient("unknown client or no registered jwks");
  if (client.tokenEndpointAuthMethod !== "private_key_jwt") throw new InvalidClient(`client registered ${client.tokenEndpointAuthMethod}`);
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
      algorithms: ASSERTION_ALGS,
      issuer: clientId,
      subject: clientId,
      audience: ctx.audiences,
      currentDate: new Date(ctx.nowSeconds * 1000),
      requiredClaims: ["exp", "jti"],
      clockTolerance: 30,
    }));
  } catch (err) {
    throw new InvalidClient(`assertion rejected: ${(err as Error).message}`);
  }
  const exp = payload.exp!;
  if (exp - ctx.nowSeconds > MAX_ASSERTION_LIFETIME_SECONDS) throw new InvalidClient("assertion exp too far in the future");
  if (!directory.consumeAssertionJti(clientId, String(payload.jti), exp)) throw new InvalidClient("assertion jti replayed");
  return client;
}

function peekIssuer(jwt: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as { iss?: unknown };
    return typeof payload.iss === "string" ? payload.iss : undefined;
  } catch {
    return undefined;
  }
}
