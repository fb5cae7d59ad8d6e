/**
 * Conveyor's tracing setup for the producer and the worker: the OpenTelemetry SDK, an OTLP (HTTP)
 * exporter and a resource naming the service, started from the configuration (`TRACING=otlp`).
 * The SDK (`@conveyor/sdk`) and shared never import this: they use `@opentelemetry/api` only. With
 * tracing off, the OpenTelemetry SDK is not loaded at all.
 *
 * @example
 * ```ts
 * import { startTracing } from '@conveyor/telemetry';
 * const tracing = await startTracing(config, { service: 'conveyor-worker' }); // undefined when off
 * const tracer = tracing?.tracer('@conveyor/worker');
 * await tracing?.shutdown();
 * ```
 */
export {
  startTracing,
  traceIdMixin,
  type ServiceName,
  type Tracing,
  type TracingOptions,
} from './tracing.js';
