// Preloaded (NODE_OPTIONS=--import) into a server of the observability
// scenario: an OpenTelemetry SDK sampling 1 in 100 root calls and every call
// whose caller sampled it (OTEL_TRACES_SAMPLER=parentbased_traceidratio,
// OTEL_TRACES_SAMPLER_ARG=0.01), exporting none: a service at thousands of
// calls per second traced the way such services are.
import { NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-node";

new NodeTracerProvider({ sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.01) }) }).register();
