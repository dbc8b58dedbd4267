/**
 * The throttling key of a caller's address: the host of a gRPC peer
 * (`ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`) or an HTTP remote address, IPv4
 * as is (IPv4-mapped IPv6 included), IPv6 by its /64 (one host usually holds
 * a whole /64, so single IPv6 addresses would be free to rotate). Anything
 * else (a Unix socket, garbage from a forwarding header) is taken as given,
 * cut to 64 characters: it can only ever throttle itself.
 */
export function sourceKey(peer: string): string {
  let host = peer;
  if (host.startsWith("ipv4:")) host = host.slice(5, host.lastIndexOf(":") > 4 ? host.lastIndexOf(":") : undefined);
  else if (host.startsWith("ipv6:")) host = host.slice(5).replace(/^\[([^\]]*)\](:\d+)?$/, "$1");
  else if (host.startsWith("[")) host = host.replace(/^\[([^\]]*)\](:\d+)?$/, "$1");
  // A load balancer may write `1.2.3.4:5678`: the port is the connection's, not the caller's.
  host = host.replace(/^(\d+\.\d+\.\d+\.\d+):\d+$/, "$1");
  if (host.includes(":")) host = canonicalIpv6(host.replace(/%.*$/, "")) ?? host; // one spelling per address; no zone
  // IPv4-mapped, as the canonical form writes it (`::ffff:a01:203`): the IPv4 address.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) return hexToIpv4(mapped[1]!, mapped[2]!);
  if (host.includes(":") && /^[0-9a-f:]+$/i.test(host)) return ipv6Prefix(host);
  return host.slice(0, 64);
}

/** WHATWG URL's canonical IPv6 text (lower case, `::` compressed, an embedded IPv4 as hex), or undefined if it is none. */
function canonicalIpv6(address: string): string | undefined {
  if (address.length > 64 || !/^[0-9a-f:.]+$/i.test(address)) return undefined;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

function hexToIpv4(high: string, low: string): string {
  const h = parseInt(high, 16);
  const l = parseInt(low, 16);
  return `${h >> 8}.${h & 255}.${l >> 8}.${l & 255}`;
}

/** The first four groups of an IPv6 address (its /64), `::` expanded. */
function ipv6Prefix(address: string): string {
  const [head = "", tail] = address.split("::", 2);
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
