/** How a call reached the service: gRPC, or HTTP/JSON transcoded by the embedded gateway or Envoy. */
export type Transport = "grpc" | "http";

/**
 * Watches every call the pipeline serves, for both transports alike (the
 * metrics, src/ops/metrics.ts). Called once per call as it ends, on the hot
 * path: it must not allocate or block.
 */
export interface CallObserver {
  /** `method` ended with gRPC `code` (the error table's, also for OAuth errors rendered as HTTP bodies) after `seconds`; `cause` is what it failed with. */
  ended(method: string, transport: Transport, code: number, seconds: number, cause: unknown): void;
}

/**
 * Set on every call transcoded from HTTP (by the embedded gateway as by
 * Envoy's grpc_json_transcoder): that is how a call is known to be HTTP,
 * whichever way it reached the pipeline (in-process, loopback, Envoy).
 */
export const TRANSCODED_HEADER = "x-envoy-original-path";
/** Set with it: the HTTP request's method. */
export const TRANSCODED_METHOD_HEADER = "x-envoy-original-method";
