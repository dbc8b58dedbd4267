/**
 * google.api.http path templates (google/api/http.proto):
 *   Template = "/" Segments [ Verb ] ;  Segment = "*" | "**" | LITERAL | Variable ;
 *   Variable = "{" FieldPath [ "=" Segments ] "}" ;  Verb = ":" LITERAL ;
 * A variable is flattened into the segments it spans, each tagged with it.
 */
export type Segment =
  | { kind: "literal"; value: string; variable?: undefined }
  | { kind: "single"; variable?: string }
  | { kind: "double"; variable?: string };

export interface Template {
  segments: Segment[];
  verb?: string;
  /** Field paths bound by variables, in order. */
  variables: string[];
  /** The template as written, for messages. */
  source: string;
}

export function parseTemplate(source: string): Template {
  if (!source.startsWith("/")) throw new Error(`template ${source} must start with /`);
  let body = source.slice(1);
  let verb: string | undefined;
  // The verb is a `:` after the last `}` or `/`.
  const lastColon = body.lastIndexOf(":");
  if (lastColon > Math.max(body.lastIndexOf("}"), body.lastIndexOf("/"))) {
    verb = body.slice(lastColon + 1);
    body = body.slice(0, lastColon);
  }
  const segments: Segment[] = [];
  const variables: string[] = [];
  for (const part of splitTopLevel(body)) {
    if (part.startsWith("{")) {
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const field = eq < 0 ? inner : inner.slice(0, eq);
      const sub = eq < 0 ? ["*"] : inner.slice(eq + 1).split("/");
      variables.push(field);
      for (const s of sub) segments.push(toSegment(s, field, source));
    } else {
      segments.push(toSegment(part, undefined, source));
    }
  }
  const doubleAt = segments.findIndex((s) => s.kind === "double");
  if (doubleAt >= 0 && doubleAt !== segments.length - 1) throw new Error(`template ${source}: ** must be the last segment`);
  return { segments, verb, variables, source };
}

function toSegment(s: string, variable: string | undefined, source: string): Segment {
  if (s === "*") return { kind: "single", variable };
  if (s === "**") return { kind: "double", variable };
  if (s === "" || /[{}]/.test(s)) throw new Error(`template ${source}: bad segment ${JSON.stringify(s)}`);
  if (variable !== undefined) throw new Error(`template ${source}: literal inside a variable is not supported`);
  return { kind: "literal", value: s };
}

/** Splits on `/` outside braces. */
function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "{") depth++;
    else if (body[i] === "}") depth--;
    else if (body[i] === "/" && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

/** A canonical key for duplicate detection: variables erased to their pattern. */
export function templateKey(t: Template): string {
  return t.segments.map((s) => (s.kind === "literal" ? s.value : s.kind === "single" ? "*" : "**")).join("/") + (t.verb ? `:${t.verb}` : "");
}
