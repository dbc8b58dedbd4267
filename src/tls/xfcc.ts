import { createHash } from "node:crypto";
import { parseCertificate, parsePemBundle, type PresentedCertificate } from "../oauth/mtls/certificates.js";

/** Longest XFCC header read at all (bytes). */
export const XFCC_MAX_LENGTH = 16 * 1024;

// ---------------------------------------------------------------------------
// Envoy's x-forwarded-client-cert (XFCC)
// ---------------------------------------------------------------------------

/** One XFCC element: what a single proxy recorded about the client certificate it saw. */
export interface XfccElement {
  /** `By`: URI SAN(s) of the proxy's own certificate. */
  by?: string[];
  /** `Hash`: hex SHA-256 of the client certificate's DER. */
  hash?: string;
  /** `Cert`: the client certificate, PEM (URL-decoded). */
  cert?: string;
  /** `Chain`: the client's chain, PEM blocks (URL-decoded), leaf first as Envoy sends it. */
  chain?: string[];
  /** `Subject`: the client certificate's subject as the proxy printed it (RFC 2253 style). */
  subject?: string;
  /** `URI`: URI SAN(s) of the client certificate. */
  uri?: string[];
  /** `DNS`: DNS SAN(s) of the client certificate. */
  dns?: string[];
}

const PEM_BLOCK = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?$/;

/** Splits a URL-decoded PEM bundle into its certificate blocks; undefined if anything else is in it. */
function pemBlocks(pem: string): string[] | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\r?\n?/g);
  if (!blocks || blocks.join("").trim() !== pem.trim() || !blocks.every((b) => PEM_BLOCK.test(b))) return undefined;
  return blocks.map((b) => (b.endsWith("\n") ? b : `${b}\n`));
}

function urlDecode(s: string): string | undefined {
  try {
    // Envoy percent-encodes the PEM (newlines as %0A, '+' as %2B ...); '+' is not a space here.
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * Tokenises an XFCC header into elements of raw (key, value) pairs. Envoy's
 * format (HTTP connection manager docs, "x-forwarded-client-cert"): elements
 * separated by `,`, each a `;`-separated list of `key=value`; keys are
 * case-insensitive; a value containing `,`, `;` or `=` is double-quoted, and
 * a `"` inside it is written `\"`. Envoy itself always quotes Cert, Chain and
 * Subject, but not By, URI or DNS, so an `=` in an unquoted value is taken
 * as part of it (the key ends at the first `=`). Other backslash pairs inside
 * quotes are kept as they are (Subject keeps its RFC 2253 escapes such as
 * `\,`); a pair is consumed as a unit so that `\\"` still ends the value.
 * Spaces/tabs around separators are allowed (a hop may have joined several
 * header lines with ", "). Undefined for anything else: an unterminated
 * quote, a key without `=`, stray quotes or control characters.
 */
function tokenizeXfcc(header: string): [string, string][][] | undefined {
  const elements: [string, string][][] = [];
  let pairs: [string, string][] = [];
  let i = 0;
  const n = header.length;
  const ows = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  for (;;) {
    ows();
    const keyStart = i;
    while (i < n && /[A-Za-z0-9_-]/.test(header[i]!)) i++;
    const key = header.slice(keyStart, i);
    if (key === "" || header[i] !== "=") return undefined;
    i++;
    let value = "";
    if (header[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) return undefined;
        const ch = header[i]!;
        if (ch === '"') break;
        if (ch === "\\" && i + 1 < n) {
          value += header[i + 1] === '"' ? '"' : header.slice(i, i + 2);
          i += 2;
          continue;
        }
        value += ch;
        i++;
      }
      i++; // closing quote
      ows();
    } else {
      const start = i;
      while (i < n && header[i] !== ";" && header[i] !== ",") i++;
      value = header.slice(start, i).replace(/[ \t]+$/, "");
      if (value.includes('"')) return undefined;
    }
        if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) return undefined;
    pairs.push([key.toLowerCase(), value]);
    if (i >= n) break;
    if (header[i] === ",") {
      elements.push(pairs);
      pairs = [];
    } else if (header[i] !== ";") {
      return undefined;
    }
    i++;
  }
  elements.push(pairs);
  return elements;
}

/**
 * Parses Envoy's `x-forwarded-client-cert` and returns its LAST element: each
 * proxy appends its own element after a comma, so the last one is what the
 * proxy next to this server — the one it trusts — added; earlier elements
 * come from further away and may be client-supplied. Only accept this header
 * from a proxy that sanitises it (Envoy `forward_client_cert_details:
 * SANITIZE_SET`), on a connection only that proxy can make (RFC 8705 §6.5
 * leaves how a terminating intermediary conveys the certificate out of
 * scope; the header is trusted input only from there).
 *
 * Undefined when the header is over {@link XFCC_MAX_LENGTH} bytes, malformed
 * anywhere (a broken earlier element could otherwise shift where the last one
 * starts), or its last element repeats Hash/Cert/Chain/Subject, has a Hash
 * that is not 64 hex digits, or a Cert/Chain that is not URL-encoded PEM
 * certificate blocks. Unknown keys are ignored.
 */
export function parseXfcc(header: string): XfccElement | undefined {
  if (typeof header !== "string" || header === "" || Buffer.byteLength(header, "utf8") > XFCC_MAX_LENGTH) return undefined;
  const elements = tokenizeXfcc(header);
  const last = elements?.at(-1);
  if (!last || last.length === 0) return undefined;
  const out: XfccElement = {};
  const seen = new Set<string>();
  for (const [key, value] of last) {
    if (["hash", "cert", "chain", "subject"].includes(key)) {
      if (seen.has(key)) return undefined;
      seen.add(key);
    }
    switch (key) {
      case "by":
        (out.by ??= []).push(value);
        break;
      case "uri":
        (out.uri ??= []).push(value);
        break;
      case "dns":
        (out.dns ??= []).push(value);
        break;
      case "subject":
        out.subject = value;
        break;
      case "hash":
        if (!/^[0-9A-Fa-f]{64}$/.test(value)) return undefined;
        out.hash = value.toLowerCase();
        break;
      case "cert": {
        const pem = urlDecode(value);
        const blocks = pem === undefined ? undefined : pemBlocks(pem);
        if (!blocks || blocks.length !== 1) return undefined;
        out.cert = blocks[0];
        break;
      }
      case "chain": {
        const pem = urlDecode(value);
        const blocks = pem === undefined ? undefined : pemBlocks(pem);
        if (!blocks) return undefined;
        out.chain = blocks;
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/**
 * The {@link PresentedCertificate} an XFCC element describes: the leaf from
 * `Cert` (or else the first `Chain` block), intermediates from the rest of
 * `Chain` (Envoy's Chain includes the leaf). Undefined if there is no
 * certificate, a block does not parse, `Cert` and `Chain` disagree on the
 * leaf, or `Hash` is present and is not the leaf's SHA-256.
 */
export function presentedFromXfcc(x: XfccElement): PresentedCertificate | undefined {
  const chain = x.chain ? parsePemBundle(x.chain.join("")) : [];
  if (!chain) return undefined;
  const leafPem = x.cert ?? x.chain?.[0];
  if (leafPem === undefined) return undefined;
  const leaf = parseCertificate(leafPem);
  if (!leaf) return undefined;
  let rest = chain;
  if (chain.length > 0 && chain[0]!.raw.equals(leaf.raw)) rest = chain.slice(1);
  else if (x.cert !== undefined && chain.length > 0) return undefined;
  if (x.hash !== undefined && createHash("sha256").update(leaf.raw).digest("hex") !== x.hash) return undefined;
  return { der: leaf.raw, chain: rest.map((c) => c.raw) };
}
