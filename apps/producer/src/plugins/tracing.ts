import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';

/**
 * Paths with no server span: health checks, metrics scrapes, the API docs and the dashboards are
 * not predictions, and would fill a trace store with probes.
 */
const UNTRACED = /^\/(?:v2\/health|docs|metrics|console|admin)(?:[/?]|$)/;

/**
 * The HTTP server span of each API request (@fastify/otel), continuing an incoming W3C
 * `traceparent`; routes run inside it, so the SDK's `accept` span of an enqueue is its
 * descendant. Register it first, before any route. Spans go to the global tracer provider
 * (@conveyor/telemetry's startTracing).
 */
export function httpTracing(): FastifyPluginCallback {
  const instrumentation = new FastifyOtelInstrumentation({
    // A span per lifecycle hook (auth, rate limit, ...) is noise: one request span and its handler.
    instrumentHooks: false,
    ignorePaths: (route: { url: string }) => UNTRACED.test(route.url),
    requestHook(span, request: FastifyRequest) {
      // The HTTP semantic conventions' name: method and route template, never the raw path.
      const route = request.routeOptions.url;
      if (route !== undefined) span.updateName(`${request.method} ${route}`);
    },
  });
  return instrumentation.plugin();
}
