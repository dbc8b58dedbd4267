import type { Route } from "./routes.js";

export interface Match {
  route: Route;
  /** Field path -> bound value, percent-decoded as Envoy does. */
  bindings: Map<string, string>;
}

/** Thrown for a path that matched but cannot be decoded (broken percent-encoding). */
export class BadPath extends Error {
  override name = "BadPath";
}

const RANK = { literal: 0, single: 1, double: 2 } as const;

/**
 * Matches like Envoy's path matcher: per HTTP method; at each segment a literal
 * beats `*`, which beats `**`; a `:verb` suffix is a verb only when some
 * template registers that verb. No match -> undefined (404).
 */
export function createMatcher(routes: Route[]) {
  const verbs = new Set(routes.map((r) => r.template.verb).filter((v): v is string => v !== undefined));
  const byMethod = new Map<string, Route[]>();
  for (const r of routes) byMethod.set(r.httpMethod, [...(byMethod.get(r.httpMethod) ?? []), r]);

  return function match(httpMethod: string, rawPath: string): Match | undefined {
    const candidates = byMethod.get(httpMethod);
    if (!candidates || !rawPath.startsWith("/")) return undefined;
    let segments = rawPath.slice(1).split("/");
    let verb: string | undefined;
    const last = segments[segments.length - 1]!;
    const colon = last.lastIndexOf(":");
    if (colon >= 0 && verbs.has(last.slice(colon + 1))) {
      verb = last.slice(colon + 1);
      segments = [...segments.slice(0, -1), last.slice(0, colon)];
    }
    let best: { route: Route; ranks: number[] } | undefined;
    for (const route of candidates) {
      if (route.template.verb !== verb) continue;
      const ranks = rank(route, segments);
      if (ranks && (!best || better(ranks, best.ranks))) best = { route, ranks };
    }
    if (!best) return undefined;
    return { route: best.route, bindings: bind(best.route, segments) };
  };
}

/** Per request segment, the kind of template segment that matched it; undefined when no match. */
function rank(route: Route, segments: string[]): number[] | undefined {
  const t = route.template.segments;
  const ranks: number[] = [];
  for (let i = 0; i < t.length; i++) {
    const s = t[i]!;
    if (s.kind === "double") {
      for (let j = i; j < segments.length; j++) ranks.push(RANK.double);
      return ranks;
    }
    const seg = segments[i];
    if (seg === undefined || seg === "") return undefined;
    if (s.kind === "literal" && s.value !== seg) return undefined;
    ranks.push(RANK[s.kind]);
  }
  return segments.length === t.length ? ranks : undefined;
}

function better(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return a.length > b.length;
}

function bind(route: Route, segments: string[]): Map<string, string> {
  const parts = new Map<string, string[]>();
  const t = route.template.segments;
  for (let i = 0; i < t.length; i++) {
    const s = t[i]!;
    if (!s.variable) continue;
    const taken = s.kind === "double" ? segments.slice(i) : [segments[i]!];
    parts.set(s.variable, [...(parts.get(s.variable) ?? []), ...taken]);
  }
  const bindings = new Map<string, string>();
  for (const [variable, values] of parts) {
    // A single-segment variable is fully decoded (%2F -> /); a multi-segment
    // one keeps an encoded slash encoded (http.proto, Envoy's default).
    bindings.set(variable, values.length === 1 && t.filter((s) => s.variable === variable).length === 1 && t.find((s) => s.variable === variable)!.kind === "single"
      ? decode(values[0]!)
      : values.map((v) => decode(v, true)).join("/"));
  }
  return bindings;
}

function decode(value: string, keepSlash = false): string {
  try {
    return keepSlash ? value.split(/%2F/i).map(decodeURIComponent).join("%2F") : decodeURIComponent(value);
  } catch {
    throw new BadPath("broken percent-encoding in the path");
  }
}
