import { getOption, hasOption, type DescField, type DescMessage, type DescMethod, type FileRegistry } from "@bufbuild/protobuf";
import { parseTemplate, templateKey, type Template } from "./template.js";

export interface Route {
  httpMethod: string;
  template: Template;
  /** `/<package>.<Service>/<Method>` */
  grpcPath: string;
  method: DescMethod;
  /** "" (no body), "*" (whole request) or a top-level request field name. */
  body: string;
  /** The HttpBody field receiving the raw request, when `body` names one. */
  httpBodyRequestField?: DescField;
  /** The HttpBody field of the response sent raw, when `response_body` names one. */
  httpBodyResponseField?: DescField;
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
 * services (with additional_bindings). Fails start-up, with a clear message,
 * on an unknown service, a duplicate (method, template), or a response_body
 * that is not an HttpBody (Envoy refuses those too).
 */
export function buildRoutes(registry: FileRegistry, services: readonly string[]): Route[] {
  const ext = registry.getExtension("google.api.http");
  if (!ext) throw new Error("descriptor lacks google.api.http");
  const routes: Route[] = [];
  const seen = new Map<string, string>();
  for (const name of services) {
    const service = registry.getService(name);
    if (!service) throw new Error(`gateway: service ${name} is not in the descriptor`);
    for (const method of service.methods) {
      if (!hasOption(method, ext)) continue;
      const rule = getOption(method, ext) as unknown as HttpRule;
      for (const r of [rule, ...rule.additionalBindings]) {
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
    const custom = value as { kind: string; path: string };
    httpMethod = custom.kind.toUpperCase();
    path = custom.path;
  } else if (kind && typeof value === "string") {
    httpMethod = kind.toUpperCase();
    path = value;
  } else {
    throw new Error(`gateway: ${grpcPath} has an http rule without a pattern`);
  }
  const template = parseTemplate(path);
  for (const variable of template.variables) checkFieldPath(method.input, variable, grpcPath);
  const route: Route = { httpMethod, template, grpcPath, method, body: rule.body };
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
