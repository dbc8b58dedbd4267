// Preloaded (NODE_OPTIONS=--import) into the server of the observability
// scenario: an OpenTelemetry SDK that samples and records every span (the
// default sampler, parent-based always-on) and exports none — issue 15's
// "tracing on, no exporter". What the service pays for tracing, not for a
// collector.
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

new NodeTracerProvider().register();
