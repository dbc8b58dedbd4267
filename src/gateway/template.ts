/**
 * google.api.http path templates (google/api/http.proto), parsed the way
 * Envoy's transcoder parses them (grpc-httpjson-transcoding http_template.cc):
 *
 *   Template = "/" | "/" Segments [ Verb ] ;
 *   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable ;
 *   Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *   FieldPath = IDENT { "." IDENT } ;
 *   Verb     = ":" LITERAL ;
 *
 * Variables are flattened into the segments they span: `{name=shelves/*}` is
 * the segments `shelves`, `*` with a variable over both. Only literal segments
 * may follow a `**`.
 */
export interface Variable {
  /** Dotted proto field path, e.g. `api_server.id`. */
  fieldPath: string;
  /** First segment index the variable spans. */
  start: number;
  /** One past its last segment; negative (counted from the end, -1 = end of path) when it holds a `**`. */
  end: number;
}

export interface Template {
  /** Literal segments, `*` (one segment) or `**` (any number). */
  segments: string[];
  verb?: string;
  variables: Variable[];
  /** The template as written, for messages. */
  source: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseTemplate(source: string): Template {
  const fail = (why: string): never => {
    throw new Error(`template ${JSON.stringify(source)}: ${why}`);
  };
  if (source === "/") return { segments: [], variables: [], source };
  let pos = 0;
  const segments: string[] = [];
  const variables: Variable[] = [];
  let open: { fieldPath: string; start: number; double: boolean } | undefined;

  const literal = (): string => {
    const start = pos;
    while (pos < source.length && !"/:{}".includes(source[pos]!)) pos++;
    if (pos === start) fail(`empty segment at offset ${start}`);
    return source.slice(start, pos);
  };
  const segmentList = (): void => {
    segment();
    while (source[pos] === "/") {
      pos++;
      segment();
    }
  };
  const segment = (): void => {
    if (source.startsWith("**", pos)) {
      pos += 2;
      segments.push("**");
      if (open) open.double = true;
    } else if (source[pos] === "*") {
      pos++;
      segments.push("*");
    } else if (source[pos] === "{") {
      if (open) fail("variables cannot nest");
      pos++;
      const close = source.slice(pos).search(/[=}]/);
      if (close < 0) fail("unterminated variable");
      const fieldPath = source.slice(pos, pos + close);
      if (!fieldPath.split(".").every((p) => IDENT.test(p))) fail(`bad field path ${JSON.stringify(fieldPath)}`);
      pos += close;
      open = { fieldPath, start: segments.length, double: false };
      if (source[pos] === "=") {
        pos++;
        segmentList();
      } else {
        segments.push("*"); // {field} is {field=*}
      }
      if (source[pos] !== "}") fail("unterminated variable");
      pos++;
      // Marked negative for now; fixed up once the whole template is known.
      variables.push({ fieldPath: open.fieldPath, start: open.start, end: open.double ? -segments.length : segments.length });
      open = undefined;
    } else {
      segments.push(literal());
    }
  };

  if (source[pos] !== "/") fail("must start with /");
  pos++;
  segmentList();
  let verb: string | undefined;
  if (source[pos] === ":") {
    pos++;
    verb = literal();
  }
  if (pos !== source.length) fail(`unexpected ${JSON.stringify(source[pos])} at offset ${pos}`);
  const firstDouble = segments.indexOf("**");
  if (firstDouble >= 0 && segments.slice(firstDouble + 1).some((s) => s === "*" || s === "**")) fail("only literal segments may follow **");
  // A variable holding `**` ends relative to the end of the request path
  // (Envoy's PostProcessVariables): -1 is the end, -2 one literal before it...
  for (const v of variables) if (v.end < 0) v.end = -v.end - segments.length - 1;
  return { segments, verb, variables, source };
}

/** The key Envoy's matcher registers: variables erased to their segments, plus the verb. */
export function templateKey(t: Template): string {
  return "/" + t.segments.join("/") + (t.verb !== undefined ? `:${t.verb}` : "");
}
