/**
 * A small test service for the gateway's unit tests: a `test.v1` package built
 * as a descriptor (on top of gen/descriptor.binpb's google/api + WKT files),
 * so routes, precedence and bindings can be exercised beyond what the authz
 * protos use; and an echo gRPC server for it that reports what it received.
 */
import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, fromBinary, setExtension, toBinary, toJson, type DescExtension, type FileRegistry, type JsonObject } from "@bufbuild/protobuf";
import {
  anyPack,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MethodOptionsSchema,
} from "@bufbuild/protobuf/wkt";
import { EventEmitter } from "node:events";
import { descriptorBytes } from "../src/descriptor.js";

export interface Rule {
  get?: string;
  post?: string;
  put?: string;
  patch?: string;
  delete?: string;
  custom?: { kind: string; path: string };
  body?: string;
  responseBody?: string;
  additionalBindings?: Rule[];
}

const field = (name: string, number: number, type: Type, extra: { typeName?: string; repeated?: boolean } = {}) => ({
  name,
  number,
  type,
  typeName: extra.typeName,
  label: extra.repeated ? Label.REPEATED : Label.OPTIONAL,
  jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
});

/** Test methods: all take test.v1.Req and return test.v1.Resp. */
export const TEST_METHODS: Record<string, Rule | undefined> = {
  Get: { get: "/v1/things/{id}" },
  Special: { get: "/v1/things/special" },
  List: { get: "/v1/things" },
  Create: { post: "/v1/things", body: "inner" },
  Update: { patch: "/v1/things/{inner.id}", body: "inner" },
  Star: { post: "/v1/things/{id}:act", body: "*" },
  Collection: { post: "/v1/things:act", body: "*" },
  Files: { get: "/v1/files/{path=**}" },
  FilesTail: { get: "/v1/files/{path=**}/meta" },
  Shelf: { get: "/v1/{path=shelves/*}/books/{id}" },
  Upload: { post: "/v1/upload/{id}", body: "http_body", responseBody: "http_body" },
  Multi: { get: "/v1/a/{id}", additionalBindings: [{ put: "/v1/b/{id}", body: "*" }, { custom: { kind: "HEAD", path: "/v1/c/{id}" } }] },
  Anything: { custom: { kind: "*", path: "/v1/any" } },
  Plain: undefined, // no google.api.http option
};

export function testRegistry(methods: Record<string, Rule | undefined> = TEST_METHODS, extraMessageFields: Array<ReturnType<typeof field>> = []): FileRegistry {
  const base = fromBinary(FileDescriptorSetSchema, descriptorBytes());
  const baseRegistry = createFileRegistry(base);
  const http = baseRegistry.getExtension("google.api.http") as DescExtension;
  const ruleDesc = baseRegistry.getMessage("google.api.HttpRule")!;
  const toRule = (r: Rule): unknown => {
    const kind = (["get", "post", "put", "patch", "delete", "custom"] as const).find((k) => r[k] !== undefined)!;
    return create(ruleDesc, {
      pattern: { case: kind, value: kind === "custom" ? r.custom : r[kind] },
      body: r.body ?? "",
      responseBody: r.responseBody ?? "",
      additionalBindings: (r.additionalBindings ?? []).map(toRule),
    } as never);
  };
  const file = create(FileDescriptorProtoSchema, {
    name: "test/v1/test.proto",
    package: "test.v1",
    syntax: "proto3",
    dependency: ["google/api/annotations.proto", "google/api/httpbody.proto", "google/protobuf/field_mask.proto", "google/protobuf/timestamp.proto"],
    enumType: [{ name: "Colour", value: [{ name: "COLOUR_UNSPECIFIED", number: 0 }, { name: "COLOUR_RED", number: 1 }, { name: "COLOUR_BLUE", number: 2 }] }],
    messageType: [
      { name: "Inner", field: [field("id", 1, Type.STRING), field("n", 2, Type.INT32), field("display_name", 3, Type.STRING)] },
      {
        name: "Req",
        field: [
          field("id", 1, Type.STRING),
          field("name", 2, Type.STRING),
          field("inner", 3, Type.MESSAGE, { typeName: ".test.v1.Inner" }),
          field("tags", 4, Type.STRING, { repeated: true }),
          field("count", 5, Type.INT32),
          field("flag", 6, Type.BOOL),
          field("colour", 7, Type.ENUM, { typeName: ".test.v1.Colour" }),
          field("update_mask", 8, Type.MESSAGE, { typeName: ".google.protobuf.FieldMask" }),
          field("at", 9, Type.MESSAGE, { typeName: ".google.protobuf.Timestamp" }),
          field("http_body", 10, Type.MESSAGE, { typeName: ".google.api.HttpBody" }),
          field("path", 11, Type.STRING),
          field("page_size", 12, Type.INT32),
          field("big", 13, Type.INT64),
          ...extraMessageFields,
        ],
      },
      {
        name: "Resp",
        field: [
          field("echo", 1, Type.STRING),
          field("http_body", 2, Type.MESSAGE, { typeName: ".google.api.HttpBody" }),
          field("count", 3, Type.INT32),
          field("flag", 4, Type.BOOL),
          field("colour", 5, Type.ENUM, { typeName: ".test.v1.Colour" }),
          field("tags", 6, Type.STRING, { repeated: true }),
          field("inner", 7, Type.MESSAGE, { typeName: ".test.v1.Inner" }),
          field("big", 8, Type.INT64),
          field("display_name", 9, Type.STRING),
        ],
      },
    ],
    service: [
      {
        name: "Echo",
        method: Object.entries(methods).map(([name, rule]) => {
          const options = create(MethodOptionsSchema);
          if (rule) (setExtension as (m: unknown, e: DescExtension, v: unknown) => void)(options, http, toRule(rule));
          return { name, inputType: ".test.v1.Req", outputType: ".test.v1.Resp", options };
        }),
      },
    ],
  });
  base.file.push(file);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: base.file }));
}

/** What the echo server saw, returned in Resp.echo. */
export interface Echo {
  method: string;
  request: JsonObject;
  metadata: Record<string, string>;
}

/**
 * The echo upstream. The request header `x-test-mode` (forwarded as metadata
 * by the gateway) picks the behaviour: default echoes the request; `fail:N`
 * fails with code N; `details` fails with a google.rpc.BadRequest detail;
 * `auth` fails trailers-only with www-authenticate; `late-error` sends
 * initial metadata, then fails with trailers; `headers` sends initial
 * metadata incl. x-http-code; `garbage` answers bytes that are no Resp;
 * `big:N` answers an N-character echo; `empty` answers an empty Resp; `hang`
 * never answers; `wait` answers when "release" is emitted (events: "call"
 * for each call, "cancelled" when one is).
 */
export async function startEcho(registry: FileRegistry): Promise<{ target: string; calls: Echo[]; events: EventEmitter; stop(): Promise<void> }> {
  const req = registry.getMessage("test.v1.Req")!;
  const resp = registry.getMessage("test.v1.Resp")!;
  const httpBody = registry.getMessage("google.api.HttpBody")!;
  const statusDesc = registry.getMessage("google.rpc.Status")!;
  const badRequest = registry.getMessage("google.rpc.BadRequest")!;
  const server = new grpc.Server();
  const calls: Echo[] = [];
  const events = new EventEmitter();
  const service = registry.getService("test.v1.Echo")!;
  for (const method of service.methods) {
    const path = `/test.v1.Echo/${method.name}`;
    const handler: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
      const request = fromBinary(req, call.request);
      const metadata = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
      const echo: Echo = { method: path, request: toJson(req, request, { registry }) as JsonObject, metadata };
      calls.push(echo);
      events.emit("call", echo);
      const mode = metadata["x-test-mode"] ?? "";
      const reply = (fields: Record<string, unknown>) => callback(null, Buffer.from(toBinary(resp, create(resp, fields as never))));
      if (mode.startsWith("fail:")) return callback({ code: Number(mode.slice(5)), details: "it failed: 100% sure" });
      if (mode === "details") {
        const detail = anyPack(badRequest, create(badRequest, { fieldViolations: [{ field: "id", description: "must not be empty" }] } as never));
        const md = new grpc.Metadata();
        md.set("grpc-status-details-bin", Buffer.from(toBinary(statusDesc, create(statusDesc, { code: 3, message: "bad id", details: [detail] } as never))));
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: "bad id", metadata: md });
      }
      if (mode === "auth") {
        const md = new grpc.Metadata();
        md.set("www-authenticate", 'Bearer realm="test"');
        return callback({ code: grpc.status.UNAUTHENTICATED, details: "no token", metadata: md });
      }
      if (mode === "late-error") {
        const initial = new grpc.Metadata();
        initial.set("x-initial", "yes");
        call.sendMetadata(initial);
        const trailers = new grpc.Metadata();
        trailers.set("x-trailer", "yes");
        return callback({ code: grpc.status.NOT_FOUND, details: "gone", metadata: trailers });
      }
      if (mode === "headers") {
        const md = new grpc.Metadata();
        md.set("cache-control", "no-store");
        md.add("x-multi", "a");
        md.add("x-multi", "b");
        md.set("x-http-code", metadata["x-want-code"] ?? "401");
        md.set("grpc-extra", "hidden");
        call.sendMetadata(md);
      }
      if (mode === "hang") return void call.on("cancelled", () => events.emit("cancelled", echo));
      if (mode === "wait") return void events.once("release", () => reply({ echo: "released" }));
      if (mode === "garbage") return callback(null, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff]));
      if (mode.startsWith("big:")) return reply({ echo: "x".repeat(Number(mode.slice(4))) });
      if (mode === "empty") return reply({});
      const body = (request as { httpBody?: { contentType: string; data: Uint8Array } }).httpBody;
      reply({
        echo: JSON.stringify(echo),
        httpBody: body ? create(httpBody, { contentType: `text/x-echo; of=${body.contentType}`, data: body.data }) : undefined,
        big: BigInt(2) ** BigInt(40),
      });
    };
    server.register(path, handler, (b: Buffer) => b, (b: Buffer) => b, "unary");
  }
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return {
    target: `127.0.0.1:${port}`,
    calls,
    events,
    stop: async () => server.forceShutdown(),
  };
}
