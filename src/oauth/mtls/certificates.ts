/**
 * RFC 8705 certificates, independent of any transport: parsing what the TLS
 * socket or a trusted proxy handed over, the `x5t#S256` thumbprint (§3.1) and
 * the chain to the configured trust anchors for `tls_client_auth` (§2.1).
 * Nothing here logs, and no error text or return value carries certificate
 * contents.
 */
import { createHash, X509Certificate } from "node:crypto";

/** The client certificate as presented on the connection (or forwarded by a trusted proxy). */
export interface PresentedCertificate {
  /** The leaf (end-entity) certificate, DER. */
  der: Buffer;
  /** Intermediates as the client presented them, DER, leaf excluded; order is not relied on. */
  chain?: Buffer[];
}

/** The parsed leaf and intermediates of a {@link PresentedCertificate}. */
export interface ParsedPresentation {
  leaf: X509Certificate;
  intermediates: X509Certificate[];
}

/** id-kp-clientAuth (RFC 5280 §4.2.1.12). */
export const OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** anyExtendedKeyUsage (RFC 5280 §4.2.1.12): the issuer does not restrict the purpose. */
const OID_ANY_EKU = "2.5.29.37.0";

/** Longest certification path walked: up to 5 issuers (intermediates plus the anchor) above the leaf. */
export const MAX_CHAIN_DEPTH = 5;
/** Intermediates taken from a presentation at most (more is not a chain anyone needs). */
const MAX_INTERMEDIATES = 10;
/** More presented intermediates than this is not a real chain; refusing bounds the path search. */

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g;

// ---------------------------------------------------------------------------
// Parsing and thumbprints
// ---------------------------------------------------------------------------

/** The DER of a certificate given as DER, PEM bytes or PEM text (throws on anything else). */
function toDer(cert: Buffer | string): Buffer {
  if (typeof cert === "string" || cert.subarray(0, 11).toString("latin1") === "-----BEGIN ") return new X509Certificate(cert).raw;
  return cert;
}

/**
 * RFC 8705 §3.1 `x5t#S256`: the base64url (no padding) SHA-256 of the
 * certificate's DER. A Buffer is taken as DER as-is (what the TLS stack gave);
 * PEM (text or bytes) is decoded first. Throws if PEM does not parse.
 */
export function certificateThumbprint(certDerOrPem: Buffer | string): string {
  return createHash("sha256").update(toDer(certDerOrPem)).digest("base64url");
}

/** A certificate from DER or PEM, or undefined if it does not parse. */
export function parseCertificate(input: Buffer | string): X509Certificate | undefined {
  try {
    return new X509Certificate(input);
  } catch {
    return undefined;
  }
}

/** The certificates of a PEM bundle (e.g. XFCC `Chain`), in order; undefined if any block does not parse or there is none. */
export function parsePemBundle(pem: string): X509Certificate[] | undefined {
  const out: X509Certificate[] = [];
  for (const m of pem.matchAll(PEM_CERT)) {
    const cert = parseCertificate(m[0]);
    if (!cert) return undefined;
    out.push(cert);
  }
  return out.length > 0 ? out : undefined;
}

/** Parses what the client presented; undefined if the leaf or any intermediate does not parse, or there are too many intermediates. */
export function parsePresented(p: PresentedCertificate): ParsedPresentation | undefined {
  const leaf = parseCertificate(p.der);
  if (!leaf) return undefined;
  const chain = p.chain ?? [];
  if (chain.length > MAX_INTERMEDIATES) return undefined;
  const intermediates: X509Certificate[] = [];
  for (const der of chain) {
    const c = parseCertificate(der);
    if (!c) return undefined;
    intermediates.push(c);
  }
  return { leaf, intermediates };
}

// ---------------------------------------------------------------------------
// Chain validation (tls_client_auth, RFC 8705 §2.1)
// ---------------------------------------------------------------------------

/** Inside notBefore..notAfter at `nowMs` (RFC 5280 §6.1.3 (a)(2)); unparseable dates fail. */
export function validAt(cert: X509Certificate, nowMs: number): boolean {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return Number.isFinite(from) && Number.isFinite(to) && from <= nowMs && nowMs <= to;
}

/**
 * The certificate's extendedKeyUsage permits TLS client authentication. No
 * EKU extension means no restriction (RFC 5280 §4.2.1.12); anyExtendedKeyUsage
 * is accepted too. (Node's `keyUsage` lists the EKU OIDs, not keyUsage bits.)
 */
function permitsClientAuth(cert: X509Certificate): boolean {
  const eku = cert.keyUsage;
  return eku === undefined || eku.includes(OID_CLIENT_AUTH) || eku.includes(OID_ANY_EKU);
}

/** `issuer` issued and signed `cert`, is a CA, is valid now and does not restrict EKU away from clientAuth. */
function issuedBy(cert: X509Certificate, issuer: X509Certificate, nowMs: number): boolean {
  try {
    // checkIssued is OpenSSL's X509_check_issued: names, AKID/SKID and the
    // issuer's keyUsage keyCertSign when present; verify checks the signature.
    return issuer.ca && validAt(issuer, nowMs) && permitsClientAuth(issuer) && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * RFC 8705 §2.1: for `tls_client_auth` the certificate must chain to a trust
 * anchor the server is configured with. Builds a path leaf → intermediates →
 * anchor (depth-first, each certificate used once, at most
 * {@link MAX_CHAIN_DEPTH} issuers), checking at every step that the issuer
 * issued the certificate (`checkIssued`), its signature (`verify`), that the
 * issuer is a CA (basicConstraints cA), and that every certificate is within
 * its validity period at `nowMs`. The leaf's EKU, when present, must permit
 * clientAuth; an issuer's EKU, when present, must too (as OpenSSL's purpose
 * check does). Trust anchors are CA certificates themselves.
 *
 * Not checked (X509Certificate exposes no parser for them): pathLenConstraint,
 * nameConstraints, policies, revocation. §7.4: another trusted CA could issue
 * a certificate with the same subject, so keep the trust anchors to the few
 * CAs whose issuance policy is good enough for this server.
 */
export function verifyChain(cert: X509Certificate, intermediates: X509Certificate[], trustAnchors: X509Certificate[], nowMs: number): boolean {
  if (!validAt(cert, nowMs) || !permitsClientAuth(cert)) return false;
  if (intermediates.length > MAX_INTERMEDIATES) return false;
  const used = new Set<number>();
  const walk = (current: X509Certificate, depth: number): boolean => {
    if (depth > MAX_CHAIN_DEPTH) return false;
    if (trustAnchors.some((anchor) => issuedBy(current, anchor, nowMs))) return true;
    if (depth === MAX_CHAIN_DEPTH) return false;
    for (let i = 0; i < intermediates.length; i++) {
      if (used.has(i)) continue;
      const next = intermediates[i]!;
      if (!issuedBy(current, next, nowMs)) continue;
      used.add(i);
      if (walk(next, depth + 1)) return true;
      used.delete(i);
    }
    return false;
  };
  return walk(cert, 1);
}
