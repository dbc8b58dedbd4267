// RFC 7591 OAuth 2.0 Dynamic Client Registration (M2M subset).
import { timingSafeEqual } from "node:crypto";
import { toSeconds } from "../clock.js";
import { sha256 } from "../domain/ids.js";
import { AUTH_METHODS, GRANT_TYPES, JWKS_AUTH_METHODS, SECRET_AUTH_METHODS, type AuthMethod } from "../domain/constants.js";
import { ResourceExhausted } from "../errors.js";
import { EndpointDisabled, InvalidClientMetadata, InvalidToken } from "./errors.js";
import type { OAuthHttpRequest } from "./http.js";
import { TLS_CLIENT_AUTH_FIELDS, type TlsClientAuthMetadata } from "../domain/tls_client_auth.js";

export interface RegistrationInput {
  name: string;
  tokenEndpointAuthMethod: AuthMethod;
  grantTypes: string[];
  jwks?: { keys: unknown[] };
  /** RFC 8705 §2.1.2 (checked by the client rules: exactly one for tls_client_auth). */
  tlsClientAuth?: TlsClientAuthMetadata;
  /** RFC 8705 §3.4 tls_client_certificate_bound_access_tokens. */
  certificateBoundTokens?: boolean;
  /** RFC 9449 §5.2 dpop_bound_access_tokens. */
  dpopBoundTokens?: boolean;
}


export interface RegistrationDeps {
  enabled: boolean;
  /** SHA-256 of the initial access token that gates registration (§3), if any. */
  initialAccessTokenHash?: Buffer;
  /** 0 when a registration may go ahead now; else the seconds until one may (the registration quota). */
  quota(): number;
  /** Creates a `dynamic` client; returns its id and secret. */
  register(input: RegistrationInput): Promise<{ clientId: string; clientSecret: string; createTime: number }>;
  now(): number;
}

const GRANT_TYPE_SET: ReadonlySet<string> = new Set(GRANT_TYPES);

export async function register(request: OAuthHttpRequest, deps: RegistrationDeps): Promise<Record<string, unknown>> {
  if (!deps.enabled) throw new EndpointDisabled("dynamic client registration");
  checkInitialAccessToken(request.authorization, deps.initialAccessTokenHash);
  const input = validateMetadata(parseRegistrationBody(request));
  const wait = deps.quota();
  if (wait > 0) throw new ResourceExhausted("too many registrations; retry later", wait, "registration");
  const { clientId, clientSecret, createTime } = await deps.register(input);
  // §3.2.1: the response echoes the registered metadata.
  return {
    client_id: clientId,
    // Only a client that authenticates with its secret is told it; key and certificate methods never use one.
    ...(SECRET_AUTH_METHODS.includes(input.tokenEndpointAuthMethod) ? { client_secret: clientSecret, client_secret_expires_at: 0 } : {}),
    client_id_issued_at: toSeconds(createTime),
    client_name: input.name,
    token_endpoint_auth_method: input.tokenEndpointAuthMethod,
    grant_types: input.grantTypes,
    ...(input.jwks ? { jwks: input.jwks } : {}),
    ...Object.fromEntries(TLS_CLIENT_AUTH_FIELDS.filter(([k]) => input.tlsClientAuth?.[k] !== undefined).map(([k, member]) => [member, input.tlsClientAuth![k]])),
    ...(input.certificateBoundTokens ? { tls_client_certificate_bound_access_tokens: true } : {}),
    ...(input.dpopBoundTokens ? { dpop_bound_access_tokens: true } : {}),
  };
}

/** §3: registration may require an initial access token (RFC 6750 bearer). */
function checkInitialAccessToken(authorization: string | undefined, expectedHash: Buffer | undefined): void {
  if (!expectedHash) return;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  if (!m || !timingSafeEqual(sha256(m[1]!), expectedHash)) throw new InvalidToken("missing or wrong initial access token");
}

/** §2 metadata, M2M subset. Unknown members are ignored (§2); bad values are refused (§3.2.2). */
function validateMetadata(body: Record<string, unknown>): RegistrationInput {
  const name = body.client_name ?? "dynamic client";
  if (typeof name !== "string" || name.trim() === "" || name.length > 200) throw new InvalidClientMetadata("bad client_name", "client_name must be a string of 1..200 characters");
  const method = body.token_endpoint_auth_method ?? "client_secret_basic";
  if (typeof method !== "string" || !(AUTH_METHODS as readonly string[]).includes(method)) {
    throw new InvalidClientMetadata("bad token_endpoint_auth_method", `token_endpoint_auth_method must be one of ${AUTH_METHODS.join(", ")}`);
  }
  const grantTypes = body.grant_types ?? ["client_credentials"];
  if (!Array.isArray(grantTypes) || grantTypes.length === 0 || !grantTypes.every((g) => typeof g === "string" && GRANT_TYPE_SET.has(g))) {
    throw new InvalidClientMetadata("bad grant_types", "grant_types may contain only client_credentials and refresh_token");
  }
  if (body.response_types !== undefined && !(Array.isArray(body.response_types) && body.response_types.length === 0)) {
    throw new InvalidClientMetadata("response_types given", "response_types are not supported for machine-to-machine clients");
  }
  if (body.jwks_uri !== undefined) throw new InvalidClientMetadata("jwks_uri given", "jwks_uri is not supported; register jwks by value");
  const jwks = body.jwks;
  if (jwks !== undefined && !(typeof jwks === "object" && jwks !== null && Array.isArray((jwks as { keys?: unknown }).keys))) {
    throw new InvalidClientMetadata("bad jwks", "jwks must be a JWK Set object");
  }
  if (JWKS_AUTH_METHODS.includes(method as AuthMethod) && jwks === undefined) throw new InvalidClientMetadata(`${method} without jwks`, `${method} requires jwks`);
  const tlsClientAuth: TlsClientAuthMetadata = {};
  for (const [key, member] of TLS_CLIENT_AUTH_FIELDS) {
    const value = body[member];
    if (value === undefined) continue;
    if (typeof value !== "string") throw new InvalidClientMetadata(`bad ${member}`, `${member} must be a string`);
    tlsClientAuth[key] = value;
  }
  const flag = (member: string): boolean => {
    const value = body[member] ?? false;
    if (typeof value !== "boolean") throw new InvalidClientMetadata(`bad ${member}`, `${member} must be true or false`);
    return value;
  };
  return {
    name: name.trim(),
    tokenEndpointAuthMethod: method as AuthMethod,
    grantTypes: [...new Set(grantTypes as string[])],
    jwks: jwks as RegistrationInput["jwks"],
    tlsClientAuth,
    certificateBoundTokens: flag("tls_client_certificate_bound_access_tokens"),
    dpopBoundTokens: flag("dpop_bound_access_tokens"),
  };
}

/** RFC 7591 §3.1: the request is a JSON object. */
function parseRegistrationBody(request: OAuthHttpRequest): Record<string, unknown> {
  if (!/^application\/json\s*(;|$)/i.test(request.contentType)) throw new InvalidClientMetadata("not JSON", "the registration request must be application/json");
  try {
    const value: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(request.body));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new InvalidClientMetadata("malformed JSON", "the registration request must be a JSON object");
}
