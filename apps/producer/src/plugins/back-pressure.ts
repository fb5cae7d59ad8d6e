import type { FastifyPluginCallback } from 'fastify';
import { configTopology, type Config, type Logger, type RedisConfig } from '@conveyor/shared';
import { createBackPressure } from '../back-pressure.js';
import { createQueueDepth, type QueueDepth } from '../queue-depth.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Resolves when `jobs` (default 1) more jobs fit in the model's queue; rejects with
     * ERR_QUEUE_FULL (429 with `Retry-After`) when the queue holds MAX_QUEUE_DEPTH (or the model's
     * QUEUE_DEPTH_BY_MODEL) jobs not yet started. Call it before enqueueing any work, with
     * `await`: while the model's reading is fresh (most requests) it answers at once, with no
     * promise (undefined), or throws ERR_QUEUE_FULL.
     */
    checkBackPressure(model: string, jobs?: number): Promise<void> | undefined;
  }
}

export interface BackPressurePluginOptions {
  config: Pick<
    Config,
    keyof RedisConfig | 'REDIS_KEY_PREFIX' | 'MAX_QUEUE_DEPTH' | 'QUEUE_DEPTH_BY_MODEL'
  >;
  logger: Logger;
  /** Reads queue depths; default a BullMQ reader on the config's Redis, closed with the app. */
  queueDepth?: QueueDepth;
}

const plugin: FastifyPluginCallback<BackPressurePluginOptions> = (app, options, done) => {
  const { config } = options;
  const owned = options.queueDepth === undefined;
  const reader =
    options.queueDepth ??
    createQueueDepth({
      redisUrl: config.REDIS_URL,
      topology: configTopology(config),
      prefix: config.REDIS_KEY_PREFIX,
      logger: options.logger,
    });
  const backPressure = createBackPressure({
    depth: (model) => reader.depth(model),
    limit: config.MAX_QUEUE_DEPTH,
    limits: config.QUEUE_DEPTH_BY_MODEL,
  });
  app.decorate('checkBackPressure', (model: string, jobs?: number) =>
    backPressure.checkNow(model, jobs) ? undefined : backPressure.check(model, jobs),
  );
  app.addHook('onClose', async () => {
    backPressure.close();
    if (owned) await reader.close();
  });
  done();
};

/** Decorates the app (not a child context) with `checkBackPressure`, for every route plugin. */
export const backPressure: FastifyPluginCallback<BackPressurePluginOptions> = Object.assign(
  plugin,
  { [Symbol.for('skip-override')]: true },
);
