import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
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

/** The sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name. */
function samplerOf(config: Config): Sampler {
  const ratio = config.OTEL_TRACES_SAMPLER_ARG ?? 1;
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** Where OTLP traces go: the traces endpoint as given, or `/v1/traces` under the base endpoint. */
export function tracesUrl(config: Config): string {
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  return `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Starts tracing as the configuration says: undefined when TRACING is `off` (and no exporter is
 * given), so nothing of the OpenTelemetry SDK runs. Otherwise registers a tracer provider, the
 * W3C Trace Context propagator and an AsyncLocalStorage context manager as the process's globals.
 */
export function startTracing(config: Config, options: TracingOptions): Tracing | undefined {
  if (config.TRACING === 'off' && !options.exporter) return undefined;
  const exporter = options.exporter ?? new OTLPTraceExporter({ url: tracesUrl(config) });
  const processor = options.exportEach
    ? new SimpleSpanProcessor(exporter)
    : new BatchSpanProcessor(exporter);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME ?? options.service,
    }),
    sampler: samplerOf(config),
    spanProcessors: [processor],
  });
  provider.register();
  let closed: Promise<void> | undefined;
  return {
    tracer: (name) => provider.getTracer(name),
    flush: () => provider.forceFlush(),
    shutdown() {
      closed ??= provider.shutdown().finally(() => {
        trace.disable();
        context.disable();
        propagation.disable();
      });
      return closed;
    },
  };
}

/**
 * A pino `mixin` that adds the active span's `traceId` to each record logged inside a traced
 * request or job; nothing outside one.
 */
export function traceIdMixin(): { traceId?: string } {
  const span = trace.getSpanContext(context.active());
  return span ? { traceId: span.traceId } : {};
}
