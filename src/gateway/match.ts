import { BadEncoding, unescape, type UnescapeSpec } from "./percent.js";
import type { Route } from "./routes.js";

export interface Match {
  route: Route;
  /** Field path -> bound value, percent-decoded as Envoy does. */
  bindings: Array<[string, string]>;
}

/** Thrown for a path that matched but cannot be decoded (broken percent-encoding). */
export class BadPath extends Error {
  override name = "BadPath";
}

/** Envoy's `url_unescape_spec` values. */
export type UrlUnescapeSpec = "ALL_CHARACTERS_EXCEPT_RESERVED" | "ALL_CHARACTERS_EXCEPT_SLASH" | "ALL_CHARACTERS";

export interface MatchOptions {
  /** How multi-segment variables are decoded; single-segment ones are always fully decoded. */
  urlUnescapeSpec: UrlUnescapeSpec;
  /** Treat any `:suffix` of the last segment as a verb, not only verbs some template registers. */
  matchUnregisteredCustomVerb: boolean;
}

interface Node {
  children: Map<string, Node>;
  /** This node is a `**`: it may consume any number of further segments. */
  wildcard: boolean;
  /** `METHOD` + verb -> route (`*` as method matches any method). */
  results: Map<string, Route>;
}

const newNode = (): Node => ({ children: new Map(), wildcard: false, results: new Map() });

const MULTI_SEGMENT: Record<UrlUnescapeSpec, UnescapeSpec> = {
  ALL_CHARACTERS_EXCEPT_RESERVED: "all-except-reserved",
  ALL_CHARACTERS_EXCEPT_SLASH: "all-except-slash",
  ALL_CHARACTERS: "all",
};

/**
 * The path matcher of Envoy's transcoder (grpc-httpjson-transcoding
 * path_matcher.h / path_matcher_node.cc), as a trie built once at start:
 * - keyed by HTTP method + custom verb, so a path registered only for GET is
 *   404 (not 405) for POST;
 * - at each segment a literal child is tried first, then `*`, then `**`, with
 *   backtracking (a depth-first search in that order);
 * - a `:suffix` is a verb only when some template registers that verb;
 * - trailing empty segments (`/v1/clients/`) are dropped before matching.
 */
export function createMatcher(routes: Route[], options: MatchOptions) {
  const root = newNode();
  const verbs = new Set<string>();
  for (const route of routes) {
    let node = root;
    for (const segment of route.template.segments) {
      let child = node.children.get(segment);
      if (!child) node.children.set(segment, (child = newNode()));
      if (segment === "**") child.wildcard = true;
      node = child;
    }
    const key = route.httpMethod + (route.template.verb ?? "");
    if (node.results.has(key)) throw new Error(`gateway: ${route.httpMethod} ${route.template.source} is mapped twice (${node.results.get(key)!.grpcPath} and ${route.grpcPath})`);
    node.results.set(key, route);
    if (route.template.verb !== undefined) verbs.add(route.template.verb);
  }
  const multiSegment = MULTI_SEGMENT[options.urlUnescapeSpec];

  return function match(httpMethod: string, path: string): Match | undefined {
    if (path.charCodeAt(0) !== 47 /* / */) return undefined;
    let verb = "";
    const lastColon = path.lastIndexOf(":");
    if (lastColon > path.lastIndexOf("/")) {
      const candidate = path.slice(lastColon + 1);
      if (options.matchUnregisteredCustomVerb || verbs.has(candidate)) {
        verb = candidate;
        path = path.slice(0, lastColon);
      }
    }
    const parts = path.length > 1 ? path.slice(1).split("/") : [];
    while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
    const route = lookup(root, parts, 0, httpMethod + verb, verb);
    if (!route) return undefined;
    try {
      return { route, bindings: bind(route, parts, multiSegment) };
    } catch (err) {
      if (err instanceof BadEncoding) throw new BadPath(err.message);
      throw err;
    }
  };
}

function resultAt(node: Node, key: string, verb: string): Route | undefined {
  return node.results.get(key) ?? node.results.get("*" + verb);
}

/** Depth-first: literal child, then (unless this is a `**`) `*`, then `**`. */
function lookup(node: Node, parts: string[], i: number, key: string, verb: string): Route | undefined {
  if (i === parts.length) {
    const here = resultAt(node, key, verb);
    if (here) return here;
    // A trailing `**` also matches zero segments.
    const double = node.children.get("**");
    return double ? resultAt(double, key, verb) : undefined;
  }
  const literal = node.children.get(parts[i]!);
  if (literal) {
    const found = lookup(literal, parts, i + 1, key, verb);
    if (found) return found;
  }
  // Inside `**`: consume this segment and keep looking for the literal tail.
  if (node.wildcard) return lookup(node, parts, i + 1, key, verb);
  for (const child of ["*", "**"]) {
    const next = node.children.get(child);
    if (next) {
      const found = lookup(next, parts, i + 1, key, verb);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Path variable values (Envoy's ExtractBindingsFromPath): a variable over one
 * segment is fully percent-decoded (`as%2F7` -> `as/7`); one over several
 * segments, or holding `**`, is decoded per `url_unescape_spec` (by default
 * reserved characters such as `%2F` stay encoded).
 */
function bind(route: Route, parts: string[], multiSegment: UnescapeSpec): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const v of route.template.variables) {
    const end = v.end >= 0 ? v.end : parts.length + v.end + 1;
    const multipart = end - v.start > 1 || v.end < 0;
    let value = "";
    for (let i = v.start; i < end; i++) {
      value += unescape(parts[i]!, multipart ? multiSegment : "all", false, "path");
      if (i < end - 1) value += "/";
    }
    out.push([v.fieldPath, value]);
  }
  return out;
}
