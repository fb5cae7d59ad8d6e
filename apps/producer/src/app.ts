import Fastify, { type FastifyReply } from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { QueueClient } from '@conveyor/sdk';
import type { Config, Logger } from '@conveyor/shared';
import { auth } from './plugins/auth.js';
import { backPressure } from './plugins/back-pressure.js';
import { clientErrorHandler, errorHandler, frameworkErrorBody } from './plugins/error-handler.js';
import { health } from './plugins/health.js';
import { metricsPlugin } from './plugins/metrics.js';
import { openapi } from './plugins/openapi.js';
import { rateLimit } from './plugins/rate-limit.js';
import { inferRoutes } from './oip/infer.js';
import { modelRoutes } from './oip/models.js';
import { createInferStats, type InferStats } from './oip/infer-stats.js';
import { tritonRoutes } from './oip/triton-routes.js';
import { modelAdminRoutes } from './models/model-admin.js';
import { jobsApi, type JobsApiOptions } from './jobs/jobs-api.js';
import { conveyorConsole } from './console/console.js';
import { statusRoute } from './status/status-route.js';
import { feedbackRoutes } from './feedback/feedback-routes.js';
import { driftRoute } from './drift/drift-route.js';
import { accuracyReaderOf } from './drift/accuracy-reader.js';
import { driftAlerts } from './drift/alerts-plugin.js';
import { createProducerMetrics, type ProducerMetrics } from './metrics/producer-metrics.js';
import { RequestLog } from './request-log.js';
import { decorateBodyBinary } from './request-binary.js';

/** What the HTTP API needs from outside; tests pass real ones against a test Redis, or fakes. */
export interface AppDeps {
  /** Sends jobs and reads the model catalogue. The app does not close it. */
  client: QueueClient;
  /** True when Redis answers PING; used by the readiness check. */
  redisPing: () => Promise<boolean>;
  logger: Logger;
  /**
   * Infer outcomes for `/v2/models/{name}/stats`; pass one to count other transports (gRPC) with
   * REST. Default a fresh one.
   */
  inferStats?: InferStats;
  /**
   * The Prometheus registry served at `/metrics`; pass one to count gRPC calls with HTTP. Default a
   * fresh one over `client`.
   */
  metrics?: ProducerMetrics;
  /** Shorter webhook and dashboard timers, for tests. */
  jobsTuning?: JobsApiOptions['tuning'];
}

/**
 * Builds the producer's HTTP API (Open Inference Protocol v2 routes) without listening, so tests
 * drive it with `app.inject()`; `main.ts` is the only file that listens.
 */
export function buildApp(config: Config, deps: AppDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new RequestLog(),
    bodyLimit: config.MAX_BODY_BYTES,
    // A synchronous infer may wait up to its own timeout; the predict timeout bounds each request.
    requestTimeout: 0,
    // A refused request (431: header fields too large) closes its connection cleanly.
    clientErrorHandler,
    frameworkErrors: (error, _request, reply) => {
      const body = frameworkErrorBody(error);
      // The option is generic over route types this handler does not use.
      const plain = reply as unknown as FastifyReply;
      void plain.code(body.statusCode).type('application/json; charset=utf-8').send(body);
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  decorateBodyBinary(app);
  // First: it must see every route to wrap it (TRACING; the SDK starts in run-producer.ts).
  // Loaded only when tracing is on: @fastify/otel and its instrumentation are 2 MB of heap.
  if (config.TRACING !== 'off')
    void app.register(
      import('./plugins/tracing.js').then(({ httpTracing }) => ({ default: httpTracing() })),
    );

  void app.register(errorHandler);
  // Before every route: OpenAPI sees routes registered after it, auth guards them.
  void app.register(openapi);
  void app.register(auth, { keys: config.API_KEYS });
  // After auth (its route asks for admin), before every route it counts.
  void app.register(metricsPlugin, { metrics: deps.metrics ?? producerMetricsOf(deps.client) });
  // After auth (it keys the limit by the API key name), before every limited route.
  void app.register(rateLimit, { config, logger: deps.logger });
  void app.register(backPressure, { config, logger: deps.logger });
  void app.register(health, { redisPing: deps.redisPing });
  void app.register(modelRoutes, { client: deps.client });
  // Counted by infer, read by the Triton statistics route.
  const inferStats = deps.inferStats ?? createInferStats();
  void app.register(tritonRoutes, { client: deps.client, stats: inferStats });
  void app.register(modelAdminRoutes, { config, logger: deps.logger });
  void app.register(statusRoute, { client: deps.client });
  void app.register(feedbackRoutes, { client: deps.client });
  void app.register(driftRoute, { client: deps.client });
  void app.register(driftAlerts, {
    config,
    client: deps.client,
    logger: deps.logger,
    accuracy: accuracyReaderOf(deps.client),
  });
  void app.register(inferRoutes, { client: deps.client, config, stats: inferStats });
  void app.register(jobsApi, {
    client: deps.client,
    config,
    logger: deps.logger,
    ...(deps.jobsTuning && { tuning: deps.jobsTuning }),
  });
  // The Conveyor dashboard at /console and the status history it draws.
  void app.register(conveyorConsole, {
    readStatus: () => deps.client.status(),
    config,
    logger: deps.logger,
  });
  return app;
}

/**
 * The producer's metrics over a queue client: its catalogue bounds the model label, its status
 * fills the queue gauges.
 */
export function producerMetricsOf(client: QueueClient): ProducerMetrics {
  return createProducerMetrics({
    models: async () => (await client.models()).map((model) => model.name),
    status: () => client.status(),
    comparisons: async () => {
      const names = new Set((await client.models()).map((model) => model.name));
      return (await Promise.all([...names].map((name) => client.compare(name)))).flat();
    },
    drift: async () => {
      const names = new Set((await client.models()).map((model) => model.name));
      return Promise.all([...names].map((name) => client.drift(name)));
    },
    accuracy: async () => {
      const names = new Set((await client.models()).map((model) => model.name));
      return Promise.all([...names].map((name) => client.accuracy(name)));
    },
  });
}

/** The instance `buildApp` returns. */
export type App = ReturnType<typeof buildApp>;
