import { createHash } from "node:crypto";
import { InvalidArgument } from "./errors.js";

/**
 * Shared list semantics (AIP-158 pagination, an AIP-160 subset for filters):
 * stable order by insertion sequence, opaque page tokens bound to the filter.
 */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** A filter is a short conjunction: bounded so no input makes parsing or the query expensive. */
export const MAX_FILTER_LENGTH = 1024;
export const MAX_FILTER_TERMS = 20;
const MAX_PAGE_TOKEN_LENGTH = 64;

export interface FilterTerm {
  field: string;
  /** `eq` for an exact match, `prefix` when the value ended in `*`. */
  op: "eq" | "prefix";
  value: string | boolean;
}

export interface ListQuery {
  terms: FilterTerm[];
  /**
   * The page cursor: the sequence number of the last row of the previous page
   * (0 on the first page). Ascending lists continue after it; the newest-first
   * audit log continues before it.
   */
  afterSeq: number;
  /** Rows to return; callers ask one more than the page to detect a next page. */
  limit: number;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export type FieldKind = "string" | "bool";

/**
 * Parses `field = "value" AND other = true`. String values are double-quoted
 * (backslash escapes `"` and `\`); a trailing unescaped `*` means prefix match.
 */
export function parseFilter(filter: string, fields: Record<string, FieldKind>): FilterTerm[] {
  if (filter.length > MAX_FILTER_LENGTH) throw filterError(`must be at most ${MAX_FILTER_LENGTH} characters`);
  const text = filter.trim();
  if (text === "") return [];
  const terms: FilterTerm[] = [];
  const term = /^\s*([a-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(true|false))\s*(?:AND\s+|$)/;
  let rest = text;
  while (rest.length > 0) {
    const m = term.exec(rest);
    if (!m) throw filterError(`cannot parse near ${JSON.stringify(rest.slice(0, 40))}; expected field = "value" [AND ...]`);
    const [whole, field, quoted, bool] = m as unknown as [string, string, string | undefined, string | undefined];
    const kind = fields[field];
    if (!kind) throw filterError(`unknown field ${JSON.stringify(field)}; allowed: ${Object.keys(fields).join(", ")}`);
    if (kind === "bool") {
      if (bool === undefined) throw filterError(`${field} takes true or false`);
      terms.push({ field, op: "eq", value: bool === "true" });
    } else {
      if (quoted === undefined) throw filterError(`${field} takes a quoted string`);
      terms.push({ field, ...unquote(quoted) });
    }
    rest = rest.slice(whole.length);
    if (terms.length > MAX_FILTER_TERMS) throw filterError(`must have at most ${MAX_FILTER_TERMS} terms`);
  }
  return terms;
}

/**
 * Decodes a quoted value left to right, so an escaped backslash before a final
 * `*` (`"a\\*"`) still makes a prefix match and an escaped star (`"a\*"`) is a
 * literal one; looking only at the character before the star gets both wrong.
 */
function unquote(quoted: string): { op: "eq" | "prefix"; value: string } {
  let value = "";
  for (let i = 0; i < quoted.length; i++) {
    const c = quoted[i]!;
    if (c === "\\") value += quoted[++i] ?? "";
    else if (c === "*" && i === quoted.length - 1) return { op: "prefix", value };
    else value += c;
  }
  return { op: "eq", value };
}

/**
 * Validates page_size/page_token and parses the filter into a store query.
 * `boundTo` (default: the filter) is what the page token is bound to; pass
 * the collection name with the filter so another list's token is refused.
 */
export function listQuery(pageSize: number, pageToken: string, filter: string, fields: Record<string, FieldKind>, boundTo = filter): ListQuery {
  const page = pageQuery(pageSize, pageToken, boundTo);
  return { ...page, terms: parseFilter(filter, fields) };
}

/**
 * Validates page_size/page_token alone. `boundTo` is whatever selects the rows
 * (a filter string, or the request's selector fields joined); a token is only
 * valid with the same value.
 */
export function pageQuery(pageSize: number, pageToken: string, boundTo: string): ListQuery {
  if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
    throw new InvalidArgument([{ field: "page_size", description: `must be between 0 and ${MAX_PAGE_SIZE}` }]);
  }
  const afterSeq = pageToken ? decodePageToken(pageToken, boundTo) : 0; // decodePageToken bounds the length
  return { terms: [], afterSeq, limit: (pageSize || DEFAULT_PAGE_SIZE) + 1 };
}

/** Cuts the extra row off and makes the next token from the last row returned. */
export function toPage<T extends { seq: number }>(rows: T[], query: ListQuery, filter: string): Page<T> {
  const size = query.limit - 1;
  const items = rows.slice(0, size);
  const last = items[items.length - 1];
  const nextPageToken = rows.length > size && last ? encodePageToken(last.seq, filter) : "";
  return { items, nextPageToken };
}

function filterHash(filter: string): string {
  return createHash("sha256").update(filter).digest("base64url").slice(0, 8);
}

function encodePageToken(seq: number, filter: string): string {
  return Buffer.from(`1.${seq}.${filterHash(filter)}`).toString("base64url");
}

function decodePageToken(token: string, filter: string): number {
  if (token.length > MAX_PAGE_TOKEN_LENGTH) throw new InvalidArgument([{ field: "page_token", description: "is not a token this service issued" }]);
  const m = /^1\.(\d{1,15})\.([A-Za-z0-9_-]{8})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!m) throw new InvalidArgument([{ field: "page_token", description: "is not a token this service issued" }]);
  if (m[2] !== filterHash(filter)) {
    throw new InvalidArgument([{ field: "page_token", description: "was issued for a different list or filter" }]);
  }
  return Number(m[1]);
}

function filterError(description: string): InvalidArgument {
  return new InvalidArgument([{ field: "filter", description }]);
}
