// Talks to authz over its public HTTP API only (the same through Envoy).
// The management token lives in this module's memory and nowhere else.

export const MANAGEMENT_AUDIENCE = "urn:authz:management";

export interface Violation {
  field: string;
  description: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly violations: Violation[] = [],
    /** For a 403: the management permission the token lacks. */
    readonly permission?: string,
  ) {
    super(message);
  }
}

let token: string | undefined;
let signedInAs = "";
/** The client id the console signed in with ("" when signed out). */
export const whoami = () => (token ? signedInAs : "");
let onUnauthorized: (message: string) => void = () => {};

export const setUnauthorizedHandler = (fn: (message: string) => void) => {
  onUnauthorized = fn;
};
export const signOut = () => {
  token = undefined;
};

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
export function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${btoa(`${enc(id)}:${enc(secret)}`)}`;
}

export interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
}

export type AuthMethod = "basic" | "post";

/** Client credentials at POST /oauth/token; throws ApiError with the RFC 6749 error text. */
export async function requestToken(clientId: string, secret: string, audience: string, scope = "", method: AuthMethod = "basic"): Promise<TokenResponse> {
  const form = new URLSearchParams({ grant_type: "client_credentials", audience });
  if (scope.trim()) form.set("scope", scope.trim());
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
  if (method === "basic") headers.authorization = basicAuth(clientId, secret);
  else {
    form.set("client_id", clientId);
    form.set("client_secret", secret);
  }
  const res = await fetch("/oauth/token", { method: "POST", headers, body: form, credentials: "omit", cache: "no-store" });
  const body = await readJson(res);
  if (res.ok && typeof body?.access_token === "string") return body as TokenResponse;
  const code = typeof body?.error === "string" ? body.error : `HTTP ${res.status}`;
  const text = typeof body?.error_description === "string" ? `${code}: ${body.error_description}` : code;
  throw new ApiError(res.status, text);
}

export async function signIn(clientId: string, secret: string): Promise<void> {
  token = (await requestToken(clientId, secret, MANAGEMENT_AUDIENCE)).access_token;
  signedInAs = clientId;
}

async function readJson(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return { message: text.slice(0, 300) };
  }
}

/** Query string from the non-empty values. */
export function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A management call with the bearer token; errors are google.rpc.Status JSON. */
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  if (!token) {
    onUnauthorized("Please sign in.");
    throw new ApiError(401, "not signed in");
  }
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
  const json = await readJson(res);
  if (res.ok) return json as T;
  const violations: Violation[] = [];
  for (const d of Array.isArray(json?.details) ? json.details : []) {
    for (const v of Array.isArray(d?.field_violations) ? d.field_violations : []) {
      if (v && typeof v.field === "string") violations.push({ field: v.field, description: String(v.description ?? "") });
    }
  }
  const message = typeof json?.message === "string" && json.message ? json.message : `HTTP ${res.status}`;
  if (res.status === 401) {
    token = undefined;
    onUnauthorized("Your session has ended: the management token is invalid or expired. Sign in again.");
  }
  // 403: "the token lacks permission api_servers:write", or the challenge's scope="...".
  const permission = res.status === 403 ? (/permission\s+([\w:.-]+)/.exec(message)?.[1] ?? /scope="([^"]+)"/.exec(res.headers.get("www-authenticate") ?? "")?.[1]) : undefined;
  throw new ApiError(res.status, message, violations, permission);
}

/** Every page of a list (page size 500), for pickers and joins. */
export async function listAll<T>(path: string, key: string, params: Record<string, string> = {}): Promise<T[]> {
  const items: T[] = [];
  let page_token = "";
  for (let i = 0; i < 100; i++) {
    const res = await api("GET", `${path}${qs({ ...params, page_size: 500, page_token })}`);
    items.push(...((res?.[key] as T[] | undefined) ?? []));
    page_token = typeof res?.next_page_token === "string" ? res.next_page_token : "";
    if (!page_token) break;
  }
  return items;
}

/** `name = "<prefix>*"` with the filter grammar's escapes. */
export function prefixFilter(field: string, prefix: string): string {
  const p = prefix.trim();
  return p ? `${field} = "${p.replace(/[\\"*]/g, (c) => `\\${c}`)}*"` : "";
}

// Resource shapes (only the fields the console reads; the server may add more).
export interface Permission {
  value: string;
  description?: string;
}
export interface ApiServer {
  id: string;
  name: string;
  identifier: string;
  audiences?: string[];
  description?: string;
  permissions?: Permission[];
  signing_alg?: string;
  token_lifetime_seconds?: number;
  token_dialect?: string;
  sender_constraint?: string;
  enforce_policies?: boolean;
  allow_offline_access?: boolean;
  refresh_token_lifetime_seconds?: number;
  dynamic_client_access?: boolean;
  dynamic_client_scopes?: string[];
  etag?: string;
  system?: boolean;
  create_time?: string;
  update_time?: string;
}
export interface Client {
  client_id: string;
  name: string;
  description?: string;
  token_endpoint_auth_method?: string;
  grant_types?: string[];
  disabled?: boolean;
  dynamic?: boolean;
  secrets?: { id: string; create_time?: string; expire_time?: string }[];
  jwks?: { keys: unknown[] };
  tls_client_auth_subject_dn?: string;
  tls_client_auth_san_dns?: string;
  tls_client_auth_san_uri?: string;
  tls_client_auth_san_ip?: string;
  tls_client_auth_san_email?: string;
  tls_client_certificate_bound_access_tokens?: boolean;
  dpop_bound_access_tokens?: boolean;
  usage?: { tokens_issued?: string | number; last_issue_time?: string };
  etag?: string;
  create_time?: string;
}
export interface Grant {
  id: string;
  client_id: string;
  api_server_id: string;
  scopes?: string[];
  allow_all_scopes?: boolean;
  etag?: string;
}

/** How the console can present a client's secret; undefined for key and certificate methods (a browser has neither). */
export const authMethodOf = (c: Client): AuthMethod | undefined =>
  c.token_endpoint_auth_method === "TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST"
    ? "post"
    : c.token_endpoint_auth_method === "TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC" || !c.token_endpoint_auth_method
      ? "basic"
      : undefined;

export const ALGS: [string, string][] = [
  ["SIGNING_ALG_ES256", "ES256"],
  ["SIGNING_ALG_RS256", "RS256"],
  ["SIGNING_ALG_EDDSA", "EdDSA"],
];
/** RFC 8705 §3 / RFC 9449: whether every token for an API server must be bound. */
export const SENDER_CONSTRAINTS: [string, string][] = [
  ["SENDER_CONSTRAINT_UNSPECIFIED", "none (bearer tokens)"],
  ["SENDER_CONSTRAINT_MTLS", "client certificate (RFC 8705)"],
  ["SENDER_CONSTRAINT_DPOP", "DPoP key (RFC 9449)"],
];
export const DIALECTS: [string, string][] = [
  ["TOKEN_DIALECT_ACCESS_TOKEN", "access_token"],
  ["TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ", "access_token_authz"],
];
export const AUTH_METHODS: [string, string][] = [
  ["TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC", "client_secret_basic"],
  ["TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST", "client_secret_post"],
  ["TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT", "private_key_jwt"],
];
/** Every method, with the RFC 8705 certificate ones (src/console/app/pages/client_binding.tsx asks for their values). */
export const AUTH_METHOD_LABELS: [string, string][] = [
  ...AUTH_METHODS,
  ["TOKEN_ENDPOINT_AUTH_METHOD_TLS_CLIENT_AUTH", "tls_client_auth"],
  ["TOKEN_ENDPOINT_AUTH_METHOD_SELF_SIGNED_TLS_CLIENT_AUTH", "self_signed_tls_client_auth"],
];
/** Display name of an enum value from one of the tables above (unknown values shown as sent). */
export const label = (table: [string, string][], value: string | undefined) => table.find(([v]) => v === value)?.[1] ?? value ?? "";

export const formatTime = (t: string | undefined) => (t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—");
