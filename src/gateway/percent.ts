/**
 * Percent-decoding as Envoy's transcoder does it (grpc-httpjson-transcoding
 * `UrlUnescapeString`): `%XX` becomes the byte XX, except that a reserved
 * character (RFC 6570 §1.5: `:/?#[]@!$&'()*+,;=`) stays encoded when the spec
 * says so (or only `/`, for ALL_CHARACTERS_EXCEPT_SLASH); `+` becomes a space only when asked (query values with
 * `query_param_unescape_plus`).
 *
 * Deliberate difference: Envoy copies a broken escape (`%ZZ`, `%4`) through
 * as literal text, and the decoded bytes must then survive protobuf's UTF-8
 * check. Here both are refused up front with BadEncoding, which the gateway
 * turns into a 400 before anything reaches the service.
 */
export type UnescapeSpec = "all" | "all-except-reserved" | "all-except-slash";

export class BadEncoding extends Error {
  override name = "BadEncoding";
}

const RESERVED = new Set([..."!#$&'()*+,/:;=?@[]"].map((c) => c.charCodeAt(0)));
const utf8 = new TextDecoder("utf-8", { fatal: true });

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

export function unescape(part: string, spec: UnescapeSpec, plus: boolean, what: string): string {
  // Fast path: nothing to decode (the common case for ids and literals).
  if (part.indexOf("%") < 0 && (!plus || part.indexOf("+") < 0)) return part;
  const bytes: number[] = [];
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    if (c === 43 /* + */ && plus) {
      bytes.push(32);
    } else if (c === 37 /* % */) {
      const hi = i + 2 < part.length ? hex(part.charCodeAt(i + 1)) : -1;
      const lo = i + 2 < part.length ? hex(part.charCodeAt(i + 2)) : -1;
      if (hi < 0 || lo < 0) throw new BadEncoding(`broken percent-encoding in the ${what}`);
      const b = (hi << 4) | lo;
      const keep = (spec === "all-except-reserved" && RESERVED.has(b)) || (spec === "all-except-slash" && b === 47);
      if (keep) bytes.push(37, part.charCodeAt(i + 1), part.charCodeAt(i + 2));
      else bytes.push(b);
      i += 2;
    } else {
      // Node's HTTP parser refuses raw non-ASCII in a request target, so this is ASCII.
      bytes.push(c & 0xff);
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new BadEncoding(`the ${what} does not decode to UTF-8`);
  }
}
