import { SERVICE_NAMES } from "../descriptor.js";

/**
 * The transcoder settings, mirrored 1:1 from Envoy's grpc_json_transcoder
 * config (envoy/envoy.yaml; test/envoy_config.test.ts keeps the two equal).
 * The embedded gateway reads them from here; names follow Envoy's fields.
 */
export const transcoderSettings = Object.freeze({
  /** Fully qualified services to transcode (Envoy `services`). */
  services: SERVICE_NAMES,
  /** Where Envoy's container mounts gen/descriptor.binpb (`proto_descriptor`). */
  protoDescriptor: "/etc/envoy/descriptor.binpb",
  printOptions: Object.freeze({
    addWhitespace: false,
    alwaysPrintPrimitiveFields: true,
    alwaysPrintEnumsAsInts: false,
    preserveProtoFieldNames: true,
  }),
  /** gRPC errors become a google.rpc.Status JSON body. */
  convertGrpcStatus: true,
  /** No POST /<pkg.Service>/<Method> for unannotated RPCs. */
  autoMapping: false,
  matchIncomingRequestRoute: false,
  ignoreUnknownQueryParameters: false,
  /** `+` in query values means a space (as HTML forms and URLSearchParams write it). */
  queryParamUnescapePlus: true,
  requestValidationOptions: Object.freeze({
    /** Unmapped path -> 404 (instead of passing it through). */
    rejectUnknownMethod: true,
    /** Unknown query parameter -> 400. */
    rejectUnknownQueryParameters: true,
    /** A path/query binding and the body disagreeing on a field -> 400. */
    rejectBindingBodyFieldCollisions: true,
  }),
  /** Larger request bodies -> 413. */
  maxRequestBodySize: 65_536,
  /** Larger response bodies -> 500. */
  maxResponseBodySize: 1_048_576,
});

/** The upstream call's deadline, as the route `timeout: 15s` in envoy/envoy.yaml (-> 504). */
export const UPSTREAM_TIMEOUT_MS = 15_000;

export type TranscoderSettings = typeof transcoderSettings;
