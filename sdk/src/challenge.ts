/**
 * How a refused request is answered (RFC 6750 §3): the `WWW-Authenticate`
 * challenge, the status and a JSON body. Shared by every middleware.
 *
 * @module
 */
import { AuthzError, TokenVerificationError } from "./errors.js";

/** Proof algorithms a `DPoP` challenge names by default (`algs`, RFC 9449 §7.1): what authz signs proofs with. */
export const DEFAULT_DPOP_ALGS: readonly string[] = ["ES256", "EdDSA", "RS256", "PS256"];

/** Options of the challenge. */
export interface ChallengeOptions {
  /** `realm` of the challenge (RFC 6750 §3); none by default. */
  realm?: string;
  /** `algs` of `DPoP` challenges (RFC 9449 §7.1); the middleware passes the verifier's accepted proof algorithms. */
  dpopAlgs?: readonly string[];
  /**
   * Also offer the DPoP scheme when a request carried no token:
   * `Bearer, DPoP algs="..."` (RFC 9449 §7.1) instead of `Bearer`. Default false.
   */
  offerDpop?: boolean;
}

/** A refusal, ready to send. */
export interface Refusal {
  /** 401, 403 or 503. */
  status: 401 | 403 | 503;
  /** Response headers: `www-authenticate` for 401/403, `retry-after` for 503. */
  headers: Record<string, string>;
  /** JSON body: `{ error?, error_description, code }`. */
  body: { error?: string; error_description: string; code: string };
}

/** Characters RFC 6750 §3 allows in quoted values (no `"` or `\`). */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, "")}"`;
}

/**
 * The `WWW-Authenticate` value for a verification error, e.g.
 * `Bearer error="invalid_token", error_description="the access token expired"`
 * or `Bearer error="insufficient_scope", error_description="...", scope="orders:read"`.
 * A missing token gets `Bearer` (plus realm) with no error code (§3.1), and
 * `Bearer, DPoP algs="..."` with `offerDpop`. Errors of DPoP proofs and of
 * tokens presented with the DPoP scheme are `DPoP` challenges (RFC 9449 §7.1):
 * `DPoP error="invalid_dpop_proof", error_description="...", algs="ES256 ..."`.
 */
export function wwwAuthenticate(err: TokenVerificationError, options: ChallengeOptions = {}): string {
  const params: string[] = [];
  if (options.realm) params.push(`realm=${quoted(options.realm)}`);
  if (err.error) {
    params.push(`error=${quoted(err.error)}`);
    params.push(`error_description=${quoted(err.message)}`);
    if (err.error === "insufficient_scope" && err.scope) params.push(`scope=${quoted(err.scope)}`);
  }
  const dpop = () => {
    const algs = (options.dpopAlgs ?? DEFAULT_DPOP_ALGS).filter((a) => /^[A-Za-z0-9_-]+$/.test(a));
    return algs.length ? [`algs=${quoted(algs.join(" "))}`] : [];
  };
  const challenge = (scheme: string, p: string[]) => (p.length ? `${scheme} ${p.join(", ")}` : scheme);
  if (err.scheme === "DPoP") return challenge("DPoP", [...params, ...dpop()]);
  const bearer = challenge("Bearer", params);
  if (err.code === "ERR_TOKEN_MISSING" && options.offerDpop) {
    return `${bearer}, ${challenge("DPoP", [...(options.realm ? [`realm=${quoted(options.realm)}`] : []), ...dpop()])}`;
  }
  return bearer;
}

/**
 * The answer to a failed verification. Errors that are not a
 * {@link TokenVerificationError} (bugs, not token problems) are answered as a
 * 503 without detail, never as a pass.
 */
export function refusal(err: unknown, options: ChallengeOptions = {}): Refusal {
  if (!(err instanceof TokenVerificationError)) {
    const code = err instanceof AuthzError ? err.code : "ERR_INTERNAL";
    return { status: 503, headers: { "retry-after": "5" }, body: { error: "temporarily_unavailable", error_description: "token verification failed", code } };
  }
  if (err.status === 503) {
    return { status: 503, headers: { "retry-after": "5" }, body: { error: "temporarily_unavailable", error_description: err.message, code: err.code } };
  }
  return {
    status: err.status,
    headers: { "www-authenticate": wwwAuthenticate(err, options) },
    body: { ...(err.error ? { error: err.error } : {}), error_description: err.message, code: err.code },
  };
}
