import Fastify from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { ConveyorClient } from '@conveyor/sdk';
import type { Config, Logger } from '@conveyor/shared';
import { errorHandler } from './plugins/error-handler.js';
import { health } from './plugins/health.js';
import { inferRoutes } from './routes/infer.js';

/** What the HTTP API needs from outside; tests pass real ones against a test Redis, or fakes. */
export interface AppDeps {
  /** Sends jobs and reads the model catalogue. The app does not close it. */
  client: ConveyorClient;
  /** True when Redis answers PING; used by the readiness check. */
  redisPing: () => Promise<boolean>;
  logger: Logger;
}

/**
 * Builds the producer's HTTP API (Open Inference Protocol v2 routes) without listening, so tests
 * drive it with `app.inject()`; `main.ts` is the only file that listens.
 */
export function buildApp(config: Config, deps: AppDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.MAX_BODY_BYTES,
    // A synchronous infer may wait up to its own timeout; the predict timeout bounds each request.
    requestTimeout: 0,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  void app.register(errorHandler);
  void app.register(health, { client: deps.client, redisPing: deps.redisPing });
  void app.register(inferRoutes, { client: deps.client, config });
  return app;
}

/** The instance `buildApp` returns. */
export type App = ReturnType<typeof buildApp>;
