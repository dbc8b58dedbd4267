import { getOption, hasOption, type DescField, type DescMessage, type DescMethod, type FileRegistry } from "@bufbuild/protobuf";
import { parseTemplate, templateKey, type Template } from "./template.js";

export interface Route {
  httpMethod: string;
  template: Template;
  /** `/<package>.<Service>/<Method>` */
  grpcPath: string;
  /** A server-streaming RPC: its responses go out as newline-delimited JSON (Envoy's stream_newline_delimited). */
  stream: boolean;
  method: DescMethod;
  /** "" (no body), "*" (whole request) or a top-level request field name. */
  body: string;
  /** The HttpBody field receiving the raw request, when `body` names one. */
  httpBodyRequestField?: DescField;
  /** The HttpBody field of the response sent raw, when `response_body` names one. */
  httpBodyResponseField?: DescField;
  /** Path variable and query parameter names already resolved to request fields (filled as requests arrive; known names only). */
  fieldRefs: Map<string, FieldRef>;
}

/** A leaf field a path or query binding may set, with the proto names leading to it. */
export interface FieldRef {
  path: string[];
  leaf: DescField;
}

interface HttpRule {
  pattern: { case: string | undefined; value?: unknown };
  body: string;
  responseBody: string;
  additionalBindings: HttpRule[];
}

const HTTP_BODY = "google.api.HttpBody";

/**
 * Builds the route table from the google.api.http annotations of the listed
 * services (with their additional_bindings, one level as in http.proto).
 * Fails start-up, with a clear message, on an unknown service, a duplicate
 * (method, template), a bad template or field path, or a response_body that
 * is not an HttpBody (Envoy refuses those too). With `autoMapping`, an RPC
 * without the option gets `POST /<package>.<Service>/<Method>` with body `*`.
 */
export function buildRoutes(registry: FileRegistry, services: readonly string[], autoMapping = false): Route[] {
  const ext = registry.getExtension("google.api.http");
  if (!ext) throw new Error("gateway: the descriptor lacks google.api.http (google/api/annotations.proto)");
  const routes: Route[] = [];
  const seen = new Map<string, string>();
  for (const name of services) {
    const service = registry.getService(name);
    if (!service) throw new Error(`gateway: service ${name} is not in the descriptor`);
    for (const method of service.methods) {
      let rules: HttpRule[];
      if (hasOption(method, ext)) {
        const rule = getOption(method, ext) as unknown as HttpRule;
        rules = [rule, ...rule.additionalBindings];
      } else if (autoMapping) {
        rules = [{ pattern: { case: "post", value: `/${service.typeName}/${method.name}` }, body: "*", responseBody: "", additionalBindings: [] }];
      } else continue;
      if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
        throw new Error(`gateway: ${service.typeName}/${method.name} streams its requests; the gateway transcodes unary and server-streaming RPCs only`);
      }
      for (const r of rules) {
        const route = toRoute(method, r);
        const key = `${route.httpMethod} ${templateKey(route.template)}`;
        const previous = seen.get(key);
        if (previous) throw new Error(`gateway: ${key} is mapped twice (${previous} and ${route.grpcPath})`);
        seen.set(key, route.grpcPath);
        routes.push(route);
      }
    }
  }
  return routes;
}

function toRoute(method: DescMethod, rule: HttpRule): Route {
  const grpcPath = `/${method.parent.typeName}/${method.name}`;
  const { case: kind, value } = rule.pattern;
  let httpMethod: string;
  let path: string;
  if (kind === "custom") {
    // `custom` covers methods the pattern has no case for (HEAD...), or `*` for any method.
    const custom = value as { kind: string; path: string };
    httpMethod = custom.kind.toUpperCase();
    path = custom.path;
  } else if (kind && typeof value === "string") {
    httpMethod = kind.toUpperCase();
    path = value;
  } else {
    throw new Error(`gateway: ${grpcPath} has an http rule without a pattern`);
  }
  let template;
  try {
    template = parseTemplate(path);
  } catch (err) {
    throw new Error(`gateway: ${grpcPath}: ${(err as Error).message}`);
  }
  for (const variable of template.variables) checkFieldPath(method.input, variable.fieldPath, grpcPath);
  const route: Route = { httpMethod, template, grpcPath, stream: method.methodKind === "server_streaming", method, body: rule.body, fieldRefs: new Map() };
  if (rule.body && rule.body !== "*") {
    const field = topField(method.input, rule.body, grpcPath);
    if (field.message?.typeName === HTTP_BODY) route.httpBodyRequestField = field;
  } else if (method.input.typeName === HTTP_BODY) {
    throw new Error(`gateway: ${grpcPath}: bare HttpBody requests are not supported; wrap it in a field`);
  }
  if (rule.responseBody) {
    const field = topField(method.output, rule.responseBody, grpcPath);
    if (field.message?.typeName !== HTTP_BODY) throw new Error(`gateway: ${grpcPath}: response_body must name an HttpBody field`);
    route.httpBodyResponseField = field;
  }
  return route;
}

function topField(message: DescMessage, name: string, where: string): DescField {
  const field = message.fields.find((f) => f.name === name);
  if (!field) throw new Error(`gateway: ${where}: ${message.typeName} has no field ${name}`);
  return field;
}

function checkFieldPath(message: DescMessage, path: string, where: string): void {
  let current: DescMessage | undefined = message;
  const parts = path.split(".");
  parts.forEach((part, i) => {
    const field: DescField | undefined = current?.fields.find((f) => f.name === part);
    if (!field) throw new Error(`gateway: ${where}: path variable ${path} names no field`);
    const last = i === parts.length - 1;
    if (!last && field.fieldKind !== "message") throw new Error(`gateway: ${where}: ${path} crosses a non-message field`);
    if (last && field.fieldKind !== "scalar" && field.fieldKind !== "enum") throw new Error(`gateway: ${where}: ${path} must be a scalar field`);
    current = field.fieldKind === "message" ? field.message : undefined;
  });
}
