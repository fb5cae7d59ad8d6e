import type { FastifyPluginAsync } from 'fastify';
import type { QueueClient } from '@conveyor/sdk';
import type { Config, Logger } from '@conveyor/shared';
import { dashboard } from '../plugins/dashboard.js';
import type { WebhooksOptions } from '../webhooks/webhooks.js';
import { batchRoutes } from './batches.js';
import { lazyJobsContext } from './jobs-context.js';
import { jobEventRoutes } from './jobs-sse.js';
import { jobRoutes } from './jobs.js';

export interface JobsApiOptions {
  client: QueueClient;
  config: Config;
  logger: Logger;
  /** Test hooks: webhook timers, dashboard refresh interval. */
  tuning?: {
    webhooks?: Pick<WebhooksOptions, 'sweepMs' | 'blockMs' | 'claimIdleMs'>;
    dashboardRefreshMs?: number;
  };
}

/**
 * The asynchronous side of the producer: the `/v1` job and batch routes, job event streams,
 * webhook delivery and the queue dashboard, with the Redis resources they share (opened on first
 * use, or at boot when webhooks are on) and closed with the app.
 */
export const jobsApi: FastifyPluginAsync<JobsApiOptions> = async (app, options) => {
  const { client, config, tuning } = options;
  const context = lazyJobsContext({
    config,
    client,
    logger: options.logger,
    ...(tuning?.webhooks && { webhooks: tuning.webhooks }),
  });
  const shutdown = new AbortController();
  app.addHook('preClose', (next) => {
    shutdown.abort();
    next();
  });
  // A long poll or result stream that shutdown cut short leaves a keep-alive socket that the
  // server's close() already passed over as busy; end it, or close() waits for the client.
  app.addHook('onResponse', (request, _reply, next) => {
    if (shutdown.signal.aborted) request.raw.socket.destroy();
    next();
  });
  app.addHook('onClose', () => context.close());
  // Deliveries a previous run left in Redis resume at once, not on the first request.
  if (config.WEBHOOK_SECRET !== undefined)
    app.addHook('onReady', async () => void (await context.get()));

  const closing = shutdown.signal;
  await app.register(jobRoutes, { client, config, context, closing });
  await app.register(jobEventRoutes, { config, client });
  await app.register(batchRoutes, { client, config, context, closing });
  await app.register(dashboard, {
    client,
    context,
    ...(tuning?.dashboardRefreshMs !== undefined && { refreshMs: tuning.dashboardRefreshMs }),
  });
};
