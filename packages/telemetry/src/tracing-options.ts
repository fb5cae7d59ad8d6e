/** @file What tracing.ts and tracing-sdk.ts share: the options, the handle and the OTLP URL. */
import type { Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { Config } from '@conveyor/shared';

/** The default `service.name` of each Conveyor service (OTEL_SERVICE_NAME overrides it). */
export type ServiceName = 'conveyor-producer' | 'conveyor-worker';

export interface TracingOptions {
  service: ServiceName;
  /**
   * Where spans go instead of the OTLP receiver of the configuration, whatever TRACING says
   * (tests pass an InMemorySpanExporter). Default: OTLP over HTTP when TRACING is `otlp`.
   */
  exporter?: SpanExporter;
  /** Export each span as it ends instead of in batches (for tests); default false. */
  exportEach?: boolean;
}

/** A started OpenTelemetry SDK, registered as the process's global tracer provider. */
export interface Tracing {
  /** A tracer of the registered provider, named for the instrumentation using it. */
  tracer(name: string): Tracer;
  /** Exports the spans ended so far. */
  flush(): Promise<void>;
  /** Exports what is left, stops the exporter and unregisters the global provider. */
  shutdown(): Promise<void>;
}

/** Where OTLP traces go: the traces endpoint as given, or `/v1/traces` under the base endpoint. */
export function tracesUrl(config: Config): string {
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  return `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
}
