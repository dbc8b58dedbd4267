import type { Logger } from "./log.js";

/**
 * Trace export, configured the OpenTelemetry way: by the standard OTEL_*
 * variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 * On when an OTLP endpoint is named (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER=otlp; off when
 * none is, or OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none. Off, the
 * SDK is not even loaded and every span in src/tracing.ts is a no-op.
 *
 * On: a NodeTracerProvider (AsyncLocalStorage context, W3C traceparent and
 * baggage propagation) with a batch processor and the OTLP/HTTP JSON exporter,
 * both of which read their own OTEL_* settings (endpoint, headers, timeout,
 * OTEL_BSP_*), the sampler from OTEL_TRACES_SAMPLER(_ARG) (default: parent
 * based, always on) and the resource from OTEL_SERVICE_NAME (default `authz`)
 * and OTEL_RESOURCE_ATTRIBUTES.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === "true") return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter === "none") return false;
  return exporter === "otlp" || !!env.OTEL_EXPORTER_OTLP_ENDPOINT || !!env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
}

export interface TraceExport {
  /** Sends what is buffered and stops (the end of a graceful shutdown). */
  shutdown(): Promise<void>;
}

/** Registers the SDK when the environment asks for it (see above); undefined when it does not. */
export async function startTracing(env: NodeJS.ProcessEnv, logger: Logger): Promise<TraceExport | undefined> {
  if (!tracingRequested(env)) return undefined;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { detectResources, envDetector, resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  const resource = resourceFromAttributes({ "service.name": "authz" }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register();
  logger.info("tracing on: spans exported by OTLP/HTTP", { endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT || "http://localhost:4318/v1/traces" });
  return {
    shutdown: () =>
      provider.shutdown().catch((err: unknown) => {
        logger.warn("trace export did not flush", { error: err instanceof Error ? err.name : "error" });
      }),
  };
}
