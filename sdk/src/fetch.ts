/**
 * The `fetch` the SDK uses for HTTP (token endpoint, metadata, JWKS,
 * introspection, watch): injectable for tests, `globalThis.fetch` by default.
 *
 * @module
 */

/** A WHATWG `fetch` (Node 20's global one, or a test double). */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** `fetch` with a timeout (AbortSignal.timeout merged with the caller's signal). */
export async function fetchWithTimeout(fetchImpl: FetchLike, url: string | URL, init: RequestInit, timeoutMs: number): Promise<Response> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
  return fetchImpl(url, { ...init, signal });
}

/**
 * RFC 6749 §2.3.1 HTTP Basic client credentials: id and secret
 * form-urlencoded, joined by a colon, then base64.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString("base64")}`;
}

/** The `error` member of an RFC 6749 §5.2 JSON error body, if the body is one. */
export async function oauthErrorOf(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.json()) as { error?: unknown };
    return typeof body.error === "string" && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(body.error) ? body.error : undefined;
  } catch {
    return undefined;
  }
}

/** The issuer without trailing slashes, to join paths to. */
export function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
