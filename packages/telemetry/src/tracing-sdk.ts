/**
 * @file The OpenTelemetry SDK half of tracing.ts, loaded only when tracing is on: its modules
 * (about 270, 4.6 MB of heap) stay out of a producer or worker that does not trace.
 */
import { context, propagation, trace } from '@opentelemetry/api';
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
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Config } from '@conveyor/shared';
import { tracesUrl, type Tracing, type TracingOptions } from './tracing-options.js';

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

/**
 * Registers a tracer provider, the W3C Trace Context propagator and an AsyncLocalStorage context
 * manager as the process's globals (see startTracing).
 */
export function startSdkTracing(config: Config, options: TracingOptions): Tracing {
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
