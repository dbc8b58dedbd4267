import { startTestServer, type TestServer } from "../helpers/server.js";

/**
 * Where the HTTP suite runs: AUTHZ_HTTP_URL (e.g. a real Envoy in front of a
 * running authz, with AUTHZ_ADMIN_CLIENT_ID/SECRET of that deployment), or the
 * embedded gateway of a fresh test server. The suite only speaks HTTP.
 */
export interface HttpTarget {
  base: string;
  adminId: string;
  adminSecret: string;
  /** Present only for the embedded target. */
  server?: TestServer;
  /**
   * The target is Envoy (it answers with `server: envoy`). Tests of the few
   * places where the embedded gateway deliberately differs from Envoy
   * (src/gateway/settings.ts) expect Envoy's behaviour then.
   */
  envoy: boolean;
  close(): Promise<void>;
}

async function isEnvoy(base: string): Promise<boolean> {
  const res = await fetch(`${base}/.well-known/jwks.json`);
  await res.arrayBuffer();
  return res.headers.get("server") === "envoy";
}

export async function httpTarget(): Promise<HttpTarget> {
  const external = process.env.AUTHZ_HTTP_URL;
  if (external) {
    const adminId = process.env.AUTHZ_ADMIN_CLIENT_ID;
    const adminSecret = process.env.AUTHZ_ADMIN_CLIENT_SECRET;
    if (!adminId || !adminSecret) throw new Error("AUTHZ_HTTP_URL needs AUTHZ_ADMIN_CLIENT_ID and AUTHZ_ADMIN_CLIENT_SECRET");
    const base = external.replace(/\/$/, "");
    return { base, adminId, adminSecret, envoy: await isEnvoy(base), close: async () => {} };
  }
  const server = await startTestServer({ config: { registrationEnabled: true, registrationOpen: true } });
  return { base: server.httpUrl, adminId: server.adminClientId, adminSecret: server.adminClientSecret, server, envoy: false, close: () => server.cleanup() };
}

export function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

/** A management token for the admin client, obtained over HTTP like any client would. */
export async function adminToken(target: HttpTarget): Promise<string> {
  const res = await fetch(`${target.base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth(target.adminId, target.adminSecret) },
    body: new URLSearchParams({ grant_type: "client_credentials", audience: "urn:authz:management" }),
  });
  if (res.status !== 200) throw new Error(`admin token: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** JSON REST call with a bearer token. */
export async function rest(target: HttpTarget, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${target.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

let n = 0;
export const uniqueIdentifier = (prefix = "api") => `https://${prefix}-${process.pid}-${Date.now()}-${++n}.example.com`;
