import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import { methodLabel, refusalReason, type RefusalReason } from '../metrics/http-metrics.js';
import type { ProducerMetrics } from '../metrics/producer-metrics.js';

/** Where Prometheus scrapes the producer. */
export const METRICS_PATH = '/metrics';

export interface MetricsPluginOptions {
  metrics: ProducerMetrics;
}

/** The model a request's route names in its path (`/v1/models/:name/...`, `/v2/models/:name/...`). */
function modelOf(request: FastifyRequest): string | undefined {
  if (request.routeOptions.url?.includes('/models/:name') !== true) return undefined;
  const name = (request.params as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

const plugin: FastifyPluginCallback<MetricsPluginOptions> = (app, { metrics }, done) => {
  // The error a request ended with is known to onError only; its answer is counted in onResponse.
  const refusals = new WeakMap<FastifyRequest, RefusalReason>();

  app.addHook('onError', (request, _reply, error, next) => {
    const reason = refusalReason(error);
    if (reason !== undefined) refusals.set(request, reason);
    next();
  });

  // After the answer is sent: an unknown model name that needs a read of the catalogue costs the
  // client nothing. A known label (every request of a served model) is counted without a promise.
  app.addHook('onResponse', (request, reply, done) => {
    const record = (model: string) =>
      metrics.http.record({
        method: methodLabel(request.method),
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        model,
        seconds: reply.elapsedTime / 1000,
        refusal: refusals.get(request),
      });
    const label = metrics.models.label(modelOf(request));
    if (typeof label === 'string') {
      record(label);
      done();
    } else label.then(record).then(() => done(), done);
  });

  // Read in the background: a request for a model not yet known joins this read.
  app.addHook('onReady', (next) => {
    void metrics.models.refresh();
    next();
  });

  app.get(
    METRICS_PATH,
    {
      // Prometheus scrapes with the admin key (`authorization` in its scrape config) when API_KEYS
      // is set; its scrapes are never rate limited. Not an API for clients: not in the OpenAPI.
      onRequest: app.requireScope('admin'),
      config: { rateLimit: false },
      schema: { hide: true },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
  done();
};

/**
 * Counts every request the app answers (by route pattern, status and catalogue model) and serves
 * the producer's registry at `GET /metrics` behind the admin scope. Installed on the app itself
 * (not a child context) so that its hooks see every route.
 */
export const metricsPlugin: FastifyPluginCallback<MetricsPluginOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
});
