import type { FastifyPluginCallback } from 'fastify';
import type { QueueClient } from '@conveyor/sdk';
import {
  CLOSE_GRACE_MS,
  closeRedis,
  configTarget,
  createRedisClient,
  redisOptions,
  throttledErrorLog,
  type Config,
  type Logger,
} from '@conveyor/shared';
import { createCallbacksQueue } from '../webhooks/delivery.js';
import { createAlertCheck, type AccuracyReader } from './alert-evaluator.js';

export interface AlertsPluginOptions {
  config: Config;
  client: Pick<QueueClient, 'models' | 'drift'>;
  logger: Logger;
  /** Live accuracy, for `accuracyBelow`; without it only drift is checked. */
  accuracy?: AccuracyReader;
}

/**
 * Checks model.json `alerts` every DRIFT_ALERT_INTERVAL_MS (see alert-evaluator.ts) when webhooks
 * are on (WEBHOOK_SECRET) and the interval is not 0. Its events go through the callbacks queue,
 * which the producers' webhook workers send, signed, with retries.
 */
export const driftAlerts: FastifyPluginCallback<AlertsPluginOptions> = (app, options, done) => {
  const { config } = options;
  if (config.WEBHOOK_SECRET === undefined || config.DRIFT_ALERT_INTERVAL_MS === 0) {
    done();
    return;
  }
  const log = options.logger.child({ component: 'alerts' });
  // A Redis Cluster too: every key an alert check writes is one model's (or the lock's).
  const redis = createRedisClient(
    configTarget(config),
    redisOptions('producer', 'conveyor-producer-alerts'),
  );
  redis.on('error', throttledErrorLog(log, 'redis connection error'));
  const queue = createCallbacksQueue(redis, config);
  const check = createAlertCheck({
    redis,
    config,
    client: options.client,
    queue,
    log,
    ...(options.accuracy && { accuracy: options.accuracy }),
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    timer = setTimeout(() => {
      running = check()
        .catch((err: unknown) => log.warn({ err }, 'alert check failed'))
        .finally(() => {
          if (timer) tick();
        });
    }, config.DRIFT_ALERT_INTERVAL_MS);
    timer.unref();
  };
  app.addHook('onReady', () => {
    tick();
    return Promise.resolve();
  });
  app.addHook('onClose', async () => {
    clearTimeout(timer);
    timer = undefined;
    await running;
    await queue.close();
    await closeRedis(redis, CLOSE_GRACE_MS);
  });
  done();
};
