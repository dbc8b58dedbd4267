// Preloaded (NODE_OPTIONS=--import) into a server of the observability
// scenario: an OpenTelemetry SDK whose sampler keeps no call (what a ratio
// sampler does to most calls): the cost of having tracing configured.
import { AlwaysOffSampler, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

new NodeTracerProvider({ sampler: new AlwaysOffSampler() }).register();
