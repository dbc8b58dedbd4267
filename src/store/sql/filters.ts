import type { ListQuery } from "../../domain/listing.js";

/**
 * Builds the WHERE clause of a list query. `columns` maps each filterable field
 * to its column, so field names from callers never reach SQL text.
 */
export function whereClause(query: ListQuery, columns: Record<string, string>): { sql: string; params: unknown[] } {
  const parts = ["seq > ?"];
  const params: unknown[] = [query.afterSeq];
  for (const term of query.terms) {
    const column = columns[term.field];
    if (!column) throw new Error(`no column for filter field ${term.field}`);
    if (typeof term.value === "boolean") {
      parts.push(`${column} = ?`);
      params.push(Number(term.value));
    } else if (term.op === "prefix") {
      // substr comparison instead of LIKE: no wildcard escaping, case-sensitive.
      // SQLite's substr counts characters (code points), not UTF-16 units as
      // String#length does: a prefix with an emoji would otherwise never match.
      parts.push(`substr(${column}, 1, ?) = ?`);
      params.push([...term.value].length, term.value);
    } else {
      parts.push(`${column} = ?`);
      params.push(term.value);
    }
  }
  return { sql: parts.join(" AND "), params };
}
