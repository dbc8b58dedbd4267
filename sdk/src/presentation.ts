/**
 * How a token was presented, for sender-constrained tokens (RFC 7800 `cnf`):
 * the TLS client certificate of the request (RFC 8705 §3) and the DPoP proof
 * with the request's method and URL (RFC 9449 §7.1). The checks of the
 * binding, and helpers the middleware use to read a request.
 *
 * @module
 */
import { createHash, timingSafeEqual, X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { TokenVerificationError } from "./errors.js";
import { verifyDpopProof, type DpopReplayStore } from "./dpop_verify.js";
import { trimSlash } from "./fetch.js";

/** A TLS client certificate: its DER bytes, or a parsed certificate. */
export type ClientCertificate = Buffer | Uint8Array | X509Certificate;

/** The DPoP side of a presentation: the `DPoP` header's proof and the request it came with. */
export interface DpopPresentation {
  /** The `DPoP` header (gRPC: `dpop` metadata) value; `undefined` when there was none. */
  proof: string | undefined;
  /** The request's method (`htm`); `POST` for gRPC. */
  htm: string;
  /** The request's URL as the client addressed it (`htu`); query and fragment are ignored. */
  htu: string;
}

/**
 * How a token was presented. Without `dpop` the token counts as presented
 * with the `Bearer` scheme, so a DPoP-bound token is refused
 * (`ERR_TOKEN_DPOP_REQUIRED`, RFC 9449 §7.2); with it, as `DPoP`.
 */
export interface PresentationContext {
  /** The TLS client certificate of the request (DER), for certificate-bound tokens (`cnf.x5t#S256`). */
  certificate?: ClientCertificate;
  /** The DPoP proof and request, when the token came as `Authorization: DPoP <token>`. */
  dpop?: DpopPresentation;
}

/** The request an `Authorization` header came with (see `Verifier.verifyAuthorization`). */
export interface AuthorizationRequest {
  /** The request's method (`htm` of a DPoP proof). */
  method?: string;
  /** The request's URL as the client addressed it (`htu`). */
  url?: string;
  /** The `DPoP` header value(s); more than one is refused. */
  dpop?: string | readonly string[] | null;
  /** The TLS client certificate of the request, if any. */
  certificate?: ClientCertificate;
}

/** RFC 7800 `cnf` as authz issues it. */
export interface Confirmation {
  /** RFC 8705 §3.1: base64url SHA-256 of the client certificate's DER. */
  "x5t#S256"?: string;
  /** RFC 9449 §6.1: RFC 7638 SHA-256 thumbprint of the DPoP key. */
  jkt?: string;
}

/** RFC 8705 §3.1 `x5t#S256` of a certificate: base64url SHA-256 of its DER. */
export function certificateThumbprint(certificate: ClientCertificate): string {
  const der = certificate instanceof X509Certificate ? certificate.raw : certificate;
  return createHash("sha256").update(der).digest("base64url");
}

/** How the verifier checks DPoP proofs. */
export interface DpopVerification {
  windowSeconds: number;
  algorithms: ReadonlySet<string>;
  replay: DpopReplayStore;
}

/**
 * The `cnf` of verified claims: undefined for a bearer token; a confirmation
 * with one or both supported members; `ERR_TOKEN_CONFIRMATION` when malformed
 * or bound by a method the SDK cannot check (accepting it unbound would defeat the binding).
 */
export function confirmationOf(claims: { cnf?: unknown }): Confirmation | undefined {
  const cnf = claims.cnf;
  if (cnf === undefined) return undefined;
  const bad = () => new TokenVerificationError("ERR_TOKEN_CONFIRMATION", "the token's cnf claim is malformed or not supported", { claim: "cnf" });
  if (typeof cnf !== "object" || cnf === null || Array.isArray(cnf)) throw bad();
  const members = Object.keys(cnf);
  if (!members.length || members.some((m) => m !== "x5t#S256" && m !== "jkt")) throw bad();
  const c = cnf as Record<string, unknown>;
  for (const m of members) if (typeof c[m] !== "string" || c[m] === "") throw bad();
  return c as Confirmation;
}

/**
 * Checks that the presentation proves possession of what the token is bound
 * to: its certificate (RFC 8705 §3) and its DPoP key (RFC 9449 §7.1, §4.3).
 * An unbound token presented with the DPoP scheme is refused too.
 */
export async function checkPresentation(
  token: string,
  cnf: Confirmation | undefined,
  context: PresentationContext | undefined,
  dpop: DpopVerification,
  nowMs: number,
): Promise<void> {
  const x5t = cnf?.["x5t#S256"];
  if (x5t !== undefined) {
    const certificate = context?.certificate;
    if (!certificate) throw new TokenVerificationError("ERR_TOKEN_CERTIFICATE_MISSING", "the token is bound to a TLS client certificate; none was presented");
    if (!sameString(certificateThumbprint(certificate), x5t))
      throw new TokenVerificationError("ERR_TOKEN_CERTIFICATE_MISMATCH", "the TLS client certificate is not the one the token is bound to");
  }
  const jkt = cnf?.jkt;
  const presentation = context?.dpop;
  if (jkt === undefined) {
    if (presentation) throw new TokenVerificationError("ERR_TOKEN_NOT_DPOP_BOUND", "the token is not DPoP-bound; present it as a Bearer token");
    return;
  }
  if (!presentation) throw new TokenVerificationError("ERR_TOKEN_DPOP_REQUIRED", "the token is DPoP-bound; present it with the DPoP scheme and a proof");
  await verifyDpopProof(presentation.proof, {
    htm: presentation.htm,
    htu: presentation.htu,
    accessToken: token,
    jkt,
    nowMs,
    windowSeconds: dpop.windowSeconds,
    algorithms: dpop.algorithms,
    replay: dpop.replay,
  });
}

/** The single `DPoP` header value of a request (several are refused; none is `undefined`). */
export function singleProof(value: string | readonly string[] | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (value.length > 1) throw new TokenVerificationError("ERR_DPOP_PROOF_INVALID", "the request carried more than one DPoP proof");
  return value[0];
}

/**
 * The TLS client certificate (DER) of a socket, when the connection is TLS and
 * the client sent one (trusted by the TLS layer or not: the binding is to
 * that exact certificate).
 */
export function tlsPeerCertificate(socket: unknown): Buffer | undefined {
  const s = socket as Partial<TLSSocket> | undefined;
  if (!s || s.encrypted !== true || typeof s.getPeerCertificate !== "function") return undefined;
  const raw = s.getPeerCertificate()?.raw;
  return raw && raw.length ? raw : undefined;
}

/**
 * The URL a request was addressed to, for a DPoP proof's `htu`: `baseUrl`
 * (the external origin, plus any path prefix a proxy strips) joined with the
 * request's path; without it `<protocol>://<host><path>`.
 */
export function requestUrl(path: string, options: { baseUrl?: string; protocol: string; host: string | undefined }): string {
  const p = path.startsWith("/") ? path : `/${path}`;
  if (options.baseUrl) return `${trimSlash(options.baseUrl)}${p}`;
  return `${options.protocol.replace(/:$/, "")}://${options.host ?? "localhost"}${p}`;
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
