/**
 * RFC 8705 §2.1.2: the certificate value a `tls_client_auth` client is
 * registered with (subject DN or one SAN entry), its validation on write and
 * its match against a presented certificate. A problem text only names the
 * field at fault, never certificate contents.
 */
import type { X509Certificate } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

// ---------------------------------------------------------------------------
// Subject metadata (tls_client_auth, RFC 8705 §2.1.2)
// ---------------------------------------------------------------------------

/**
 * The RFC 8705 §2.1.2 metadata of a `tls_client_auth` client, by field:
 * `tls_client_auth_subject_dn`, `tls_client_auth_san_dns`,
 * `tls_client_auth_san_uri`, `tls_client_auth_san_ip`,
 * `tls_client_auth_san_email`. Exactly one must be set.
 */
export type TlsClientAuthMetadata = { subjectDn?: string; sanDns?: string; sanUri?: string; sanIp?: string; sanEmail?: string };

const FIELD_NAMES = {
  subjectDn: "tls_client_auth_subject_dn",
  sanDns: "tls_client_auth_san_dns",
  sanUri: "tls_client_auth_san_uri",
  sanIp: "tls_client_auth_san_ip",
  sanEmail: "tls_client_auth_san_email",
} as const satisfies Record<keyof TlsClientAuthMetadata, string>;

/** Each metadata member with its RFC 8705 §2.1.2 name (the proto field and the RFC 7591 member alike). */
export const TLS_CLIENT_AUTH_FIELDS = Object.entries(FIELD_NAMES) as ReadonlyArray<[keyof TlsClientAuthMetadata, string]>;

const MAX_DN_LENGTH = 1024;
const MAX_DNS_LENGTH = 253; // RFC 1035 §2.3.4, in text form
const MAX_URI_LENGTH = 2048;
const MAX_EMAIL_LENGTH = 254; // RFC 5321 §4.5.3.1.3 path limit, less the brackets
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Validates registered `tls_client_auth` metadata: a problem text naming the
 * field (never echoing its value), or undefined when it is usable. §2.1.2:
 * "A client using the tls_client_auth authentication method MUST use exactly
 * one of the below metadata parameters".
 */
export function checkTlsClientAuthMetadata(m: TlsClientAuthMetadata): string | undefined {
  const set = (Object.keys(FIELD_NAMES) as (keyof TlsClientAuthMetadata)[]).filter((k) => m[k] !== undefined && m[k] !== null);
  if (set.length !== 1) {
    const all = Object.values(FIELD_NAMES).join(", ");
    return set.length === 0 ? `tls_client_auth requires one of ${all}` : `tls_client_auth takes exactly one of ${all}; got ${set.map((k) => FIELD_NAMES[k]).join(" and ")}`;
  }
  const key = set[0]!;
  const name = FIELD_NAMES[key];
  const value: unknown = m[key];
  if (typeof value !== "string" || value === "") return `${name} must be a non-empty string`;
  switch (key) {
    case "subjectDn": {
      if (value.length > MAX_DN_LENGTH) return `${name} must be at most ${MAX_DN_LENGTH} characters`;
      const dn = parseRfc4514(value);
      return typeof dn === "string" ? `${name} ${dn}` : undefined;
    }
    case "sanDns":
      if (value.length > MAX_DNS_LENGTH) return `${name} must be at most ${MAX_DNS_LENGTH} characters`;
      // dNSName is an IA5String holding the A-label form (RFC 5280 §4.2.1.6); a leading "*." is allowed
      // because a certificate may carry a wildcard entry, which is then matched literally.
      return /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(value) ? undefined : `${name} must be a DNS name in ASCII (A-label) form`;
    case "sanUri":
      if (value.length > MAX_URI_LENGTH) return `${name} must be at most ${MAX_URI_LENGTH} characters`;
      return /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/.test(value) && !CONTROL.test(value) ? undefined : `${name} must be an absolute URI`;
    case "sanIp":
      return ipBytes(value) ? undefined : `${name} must be an IPv4 address in dotted decimal or an IPv6 address (RFC 5952)`;
    case "sanEmail": {
      if (value.length > MAX_EMAIL_LENGTH) return `${name} must be at most ${MAX_EMAIL_LENGTH} characters`;
      const at = value.lastIndexOf("@");
      return at > 0 && at < value.length - 1 && !/\s/.test(value) && !CONTROL.test(value) ? undefined : `${name} must be an email address (local@domain)`;
    }
  }
}

/**
 * RFC 8705 §2.1.2: does the certificate carry the registered subject value?
 * False when the metadata is unusable ({@link checkTlsClientAuthMetadata}) or
 * the certificate's names cannot be read unambiguously (fail closed; §7.5 on
 * the hazards of certificate parsing).
 *
 * - `subjectDn`: the registered RFC 4514 string against the certificate's
 *   subject; see {@link dnMatches} for the exact rules.
 * - `sanDns`: a dNSName entry equal ignoring ASCII case (RFC 4343); no
 *   wildcard expansion — `*.example.com` matches only a `*.example.com` entry.
 * - `sanUri`: a uniformResourceIdentifier entry equal character for character
 *   (no normalisation: register the URI exactly as the certificate has it).
 * - `sanIp`: an iPAddress entry with the same octets; §2.1.2 (after RFC 5952
 *   §8) compares IP addresses in binary, so `2001:db8::1` matches the
 *   certificate's `2001:DB8:0:0:0:0:0:1`. IPv4 and IPv4-mapped IPv6 differ.
 * - `sanEmail`: an rfc822Name entry with the same local part and the domain
 *   equal ignoring ASCII case (RFC 5280 §4.2.1.6, §7.5).
 */
export function certificateMatches(cert: X509Certificate, m: TlsClientAuthMetadata): boolean {
  if (checkTlsClientAuthMetadata(m) !== undefined) return false;
  if (m.subjectDn !== undefined) return dnMatches(cert.subject, m.subjectDn);
  const sans = subjectAltNames(cert);
  if (!sans) return false;
  if (m.sanDns !== undefined) {
    const want = asciiLower(m.sanDns);
    return sans.some((s) => s.type === "DNS" && asciiLower(s.value) === want);
  }
  if (m.sanUri !== undefined) return sans.some((s) => s.type === "URI" && s.value === m.sanUri);
  if (m.sanIp !== undefined) {
    const want = ipBytes(m.sanIp)!;
    return sans.some((s) => {
      if (s.type !== "IP Address") return false;
      const have = ipBytes(s.value);
      return have !== undefined && have.equals(want);
    });
  }
  if (m.sanEmail !== undefined) {
    const want = splitEmail(m.sanEmail);
    return sans.some((s) => {
      if (s.type !== "email") return false;
      const have = splitEmail(s.value);
      return have.local === want.local && have.domain === want.domain;
    });
  }
  return false;
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function splitEmail(s: string): { local: string; domain: string } {
  const at = s.lastIndexOf("@");
  return at < 0 ? { local: s, domain: "" } : { local: s.slice(0, at), domain: asciiLower(s.slice(at + 1)) };
}

/** The octets of an IPv4 (dotted decimal, no leading zeros) or IPv6 (no zone) address; undefined if it is neither. */
export function ipBytes(s: string): Buffer | undefined {
  if (isIPv4(s)) {
    const parts = s.split(".");
    // Leading zeros are refused: some parsers read them as octal (RFC 6943 §3.1.1).
    if (parts.some((p) => p.length > 1 && p.startsWith("0"))) return undefined;
    return Buffer.from(parts.map(Number));
  }
  if (!isIPv6(s) || s.includes("%")) return undefined;
  let text = s;
  let v4: Buffer | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    v4 = ipBytes(text.slice(lastColon + 1));
    if (!v4 || v4.length !== 4) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...Array<string>(fill).fill("0"), ...tail];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(all[i]!)) return undefined;
    out.writeUInt16BE(parseInt(all[i]!, 16), i * 2);
  }
  if (v4) v4.copy(out, 12);
  return out;
}

/** One subjectAltName entry as Node prints it: `DNS`, `URI`, `email`, `IP Address`, `DirName`, `othername`, ... */
interface AltName {
  type: string;
  value: string;
}

/**
 * Node's `subjectAltName` string, split into entries. Node (since the
 * CVE-2021-44532 fix, and so in every Node ≥ 20) prints entries as
 * `TYPE:value` joined by ", ", and when a value contains `,`, `"`, `\`, `'`
 * or a control character it is printed as `TYPE:"…"` — a JSON string in which
 * commas themselves are escaped as `\u002c`. A literal ", " therefore only
 * ever separates entries. Any quoted value that is not valid JSON means the
 * format is not what we expect: undefined (fail closed), never a guess.
 */
function subjectAltNames(cert: X509Certificate): AltName[] | undefined {
  const text = cert.subjectAltName;
  if (text === undefined || text === "") return [];
  const out: AltName[] = [];
  for (const entry of text.split(", ")) {
    const colon = entry.indexOf(":");
    if (colon <= 0) return undefined;
    const type = entry.slice(0, colon);
    let value = entry.slice(colon + 1);
    if (value.startsWith('"')) {
      try {
        const parsed: unknown = JSON.parse(value);
        if (typeof parsed !== "string") return undefined;
        value = parsed;
      } catch {
        return undefined;
      }
    }
    out.push({ type, value });
  }
  return out;
}

// Distinguished names -------------------------------------------------------

/** One attribute: its type in canonical form (an OID when known, else the lower-cased name) and its value. */
type Ava = { type: string; value: string };
/** An RDN is a set of attributes; a DN lists RDNs most specific first (RFC 4514 order). */
type Dn = Ava[][];

/** Attribute type names (RFC 4514 §3, RFC 4519, and OpenSSL's short names) → OID, all lower case. */
const ATTRIBUTE_OIDS: Record<string, string> = {
  cn: "2.5.4.3",
  commonname: "2.5.4.3",
  sn: "2.5.4.4",
  surname: "2.5.4.4",
  serialnumber: "2.5.4.5",
  c: "2.5.4.6",
  countryname: "2.5.4.6",
  l: "2.5.4.7",
  localityname: "2.5.4.7",
  st: "2.5.4.8",
  stateorprovincename: "2.5.4.8",
  street: "2.5.4.9",
  streetaddress: "2.5.4.9",
  o: "2.5.4.10",
  organizationname: "2.5.4.10",
  ou: "2.5.4.11",
  organizationalunitname: "2.5.4.11",
  title: "2.5.4.12",
  businesscategory: "2.5.4.15",
  postalcode: "2.5.4.17",
  gn: "2.5.4.42",
  givenname: "2.5.4.42",
  initials: "2.5.4.43",
  generationqualifier: "2.5.4.44",
  dnqualifier: "2.5.4.46",
  pseudonym: "2.5.4.65",
  organizationidentifier: "2.5.4.97",
  dc: "0.9.2342.19200300.100.1.25",
  domaincomponent: "0.9.2342.19200300.100.1.25",
  uid: "0.9.2342.19200300.100.1.1",
  userid: "0.9.2342.19200300.100.1.1",
  // PKCS #9 emailAddress: not an RFC 4514 name; OpenSSL prints "emailAddress", others write "E".
  emailaddress: "1.2.840.113549.1.9.1",
  e: "1.2.840.113549.1.9.1",
};

function canonicalType(type: string): string {
  const lower = asciiLower(type);
  return ATTRIBUTE_OIDS[lower] ?? (/^oid\.\d/.test(lower) ? lower.slice(4) : lower);
}

const HEX = /^[0-9A-Fa-f]{2}$/;
/** RFC 4514 §3 `special`: what may follow a backslash literally. */
const SPECIAL = new Set([" ", '"', "#", "+", ",", ";", "<", ">", "\\", "="]);
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses an RFC 4514 DN string, e.g. `CN=client,O=Acme\, Inc.,C=US`, into
 * RDNs in the order written (most specific first); a problem text on error.
 *
 * Accepted: attribute types as names (case-insensitive) or dotted OIDs;
 * `+` for multi-valued RDNs; the `\` escapes of §2.4 (`\,` and friends, and
 * `\XX` hex pairs, which together must form UTF-8). Leniency beyond the
 * grammar (§3 lets a parser "recognize other DN string representations"):
 * unescaped spaces around `,`, `+` and `=` are ignored, so `CN=a, O=b` reads
 * as `CN=a,O=b`; a space that belongs to a value must be escaped (`\ `).
 * Refused: the `#…` BER form of values, and unescaped `"`, `;`, `<`, `>`
 * (RFC 2253's `;` separator and RFC 1779 quoting are not RFC 4514).
 */
function parseRfc4514(input: string): Dn | string {
  const dn: Dn = [];
  let rdn: Ava[] = [];
  let i = 0;
  const n = input.length;
  const skipSpaces = () => {
    while (i < n && input[i] === " ") i++;
  };
  for (;;) {
    skipSpaces();
    const typeStart = i;
    while (i < n && input[i] !== "=" && input[i] !== "," && input[i] !== "+") i++;
    if (i >= n || input[i] !== "=") return "is not an RFC 4514 distinguished name (an attribute lacks '=')";
    const type = input.slice(typeStart, i).replace(/ +$/, "");
    if (!/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+|[Oo][Ii][Dd]\.\d+(\.\d+)+)$/.test(type)) return "has a malformed attribute type";
    i++; // '='
    skipSpaces();
    if (input[i] === "#") return "uses the #hex value form, which is not supported";
    const bytes: number[] = [];
    let keepTo = 0; // bytes up to here are escaped or non-space and survive trimming
    while (i < n && input[i] !== "," && input[i] !== "+") {
      const ch = input[i]!;
      if (ch === "\\") {
        const pair = input.slice(i + 1, i + 3);
        if (HEX.test(pair)) {
          bytes.push(parseInt(pair, 16));
          i += 3;
        } else if (i + 1 < n && SPECIAL.has(input[i + 1]!)) {
          bytes.push(input.charCodeAt(i + 1));
          i += 2;
        } else {
          return "has a malformed escape";
        }
        keepTo = bytes.length;
        continue;
      }
      if (ch === '"' || ch === ";" || ch === "<" || ch === ">" || ch === "\u0000") return `has an unescaped '${ch === "\u0000" ? "NUL" : ch}'`;
      const cp = input.codePointAt(i)!;
      const encoded = Buffer.from(String.fromCodePoint(cp), "utf8");
      bytes.push(...encoded);
      i += cp > 0xffff ? 2 : 1;
      if (ch !== " ") keepTo = bytes.length;
    }
    let value: string;
    try {
      value = UTF8.decode(Uint8Array.from(bytes.slice(0, keepTo)));
    } catch {
      return "has escapes that are not UTF-8";
    }
    rdn.push({ type: canonicalType(type), value });
    if (i >= n) {
      dn.push(rdn);
      return dn;
    }
    if (input[i] === ",") {
      dn.push(rdn);
      rdn = [];
    }
    i++; // ',' or '+'
  }
}

/**
 * Parses Node's `X509Certificate.subject`: OpenSSL's X509_NAME_print_ex with
 * RFC 2253 escaping, one RDN per line in certificate order (most general
 * first), the attributes of a multi-valued RDN joined by " + ", short names
 * (CN, O, emailAddress, ...). Values escape `,+"\<>;` and a leading `#` or
 * leading/trailing space with `\`, and control characters as `\XX`;
 * non-ASCII stays raw UTF-8. Returns RDNs most specific first, to compare
 * with an RFC 4514 string; undefined if the text is not of that shape.
 */
function parseNodeSubject(subject: string): Dn | undefined {
  if (subject === "") return [];
  const rdns: Dn = [];
  for (const line of subject.split("\n")) {
    const rdn: Ava[] = [];
    let i = 0;
    const n = line.length;
    for (;;) {
      const eq = line.indexOf("=", i);
      if (eq <= i) return undefined;
      const type = line.slice(i, eq);
      i = eq + 1;
      const bytes: number[] = [];
      while (i < n && !line.startsWith(" + ", i)) {
        const ch = line[i]!;
        if (ch === "\\") {
          const pair = line.slice(i + 1, i + 3);
          if (HEX.test(pair)) {
            bytes.push(parseInt(pair, 16));
            i += 3;
          } else if (i + 1 < n) {
            bytes.push(...Buffer.from(line[i + 1]!, "utf8"));
            i += 2;
          } else {
            return undefined;
          }
          continue;
        }
        const cp = line.codePointAt(i)!;
        bytes.push(...Buffer.from(String.fromCodePoint(cp), "utf8"));
        i += cp > 0xffff ? 2 : 1;
      }
      let value: string;
      try {
        value = UTF8.decode(Uint8Array.from(bytes));
      } catch {
        return undefined;
      }
      rdn.push({ type: canonicalType(type), value });
      if (i >= n) break;
      i += 3; // " + "
    }
    rdns.push(rdn);
  }
  return rdns.reverse();
}

function sameRdn(a: Ava[], b: Ava[]): boolean {
  if (a.length !== b.length) return false;
  // An RDN is a SET OF AttributeTypeAndValue (X.501): compare without order.
  const key = (x: Ava) => `${x.type}\u0000${x.value}`;
  const sa = a.map(key).sort();
  const sb = b.map(key).sort();
  return sa.every((k, i) => k === sb[i]);
}

/**
 * `tls_client_auth_subject_dn` matching (§2.1.2: the expected subject DN of
 * the certificate as an RFC 4514 string). What is compared:
 *
 * - RDN sequence: same number of RDNs, in the same order. RFC 4514 writes the
 *   most specific RDN first (`CN=client,O=Acme,C=US`), the reverse of the
 *   certificate's encoding and of Node's `subject` lines; the reversed order
 *   `C=US,O=Acme,CN=client` is a different DN and does not match.
 * - Within a multi-valued RDN, attributes are a set (order-free).
 * - Attribute types: case-insensitive, with names and OIDs of common
 *   attributes treated as the same (`cn`, `CN`, `commonName`, `2.5.4.3`).
 * - Values: exactly equal after removing escapes on both sides. No case
 *   folding or space squashing (stricter than X.520 caseIgnoreMatch): register
 *   the DN as the certificate has it, e.g. from
 *   `openssl x509 -noout -subject -nameopt RFC2253`.
 */
export function dnMatches(certSubject: string, registered: string): boolean {
  const want = parseRfc4514(registered);
  const have = parseNodeSubject(certSubject);
  if (typeof want === "string" || !have || want.length !== have.length) return false;
  return want.every((rdn, i) => sameRdn(rdn, have[i]!));
}
