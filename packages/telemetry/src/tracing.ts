import { context, trace } from '@opentelemetry/api';
import type { Config } from '@conveyor/shared';
import type { Tracing, TracingOptions } from './tracing-options.js';

export {
  tracesUrl,
  type ServiceName,
  type Tracing,
  type TracingOptions,
} from './tracing-options.js';

/**
 * Starts tracing as the configuration says: undefined when TRACING is `off` (and no exporter is
 * given), so nothing of the OpenTelemetry SDK is even loaded. Otherwise loads it and registers a
 * tracer provider, the W3C Trace Context propagator and an AsyncLocalStorage context manager as
 * the process's globals.
 */
export async function startTracing(
  config: Config,
  options: TracingOptions,
): Promise<Tracing | undefined> {
  if (config.TRACING === 'off' && !options.exporter) return undefined;
  const { startSdkTracing } = await import('./tracing-sdk.js');
  return startSdkTracing(config, options);
}

/**
 * A pino `mixin` that adds the active span's `traceId` to each record logged inside a traced
 * request or job; nothing outside one.
 */
export function traceIdMixin(): { traceId?: string } {
  const span = trace.getSpanContext(context.active());
  return span ? { traceId: span.traceId } : {};
}
