import type { QueueClient } from '@conveyor/sdk';
import { ConveyorError, type Config, type Logger } from '@conveyor/shared';
import { createQueueRegistry, type QueueRegistry } from '../queue-registry.js';
import { createWebhooks, type Webhooks, type WebhooksOptions } from '../webhooks/webhooks.js';

/** What the asynchronous job API, batches, webhooks and the dashboard share in one producer. */
export interface JobsContext {
  queues: QueueRegistry;
  webhooks: Webhooks;
}

/** Opens the shared resources on first use, once; `close()` closes what was opened. */
export interface LazyJobsContext {
  get(): Promise<JobsContext>;
  close(): Promise<void>;
}

/**
 * The context is opened on first use rather than at boot, so an app that never serves a /v1
 * route opens no Redis connection of its own; with WEBHOOK_SECRET set the app opens it at boot,
 * because deliveries left by a previous run must resume.
 */
export function lazyJobsContext(options: {
  config: Config;
  client: Pick<QueueClient, 'models' | 'jobIdFor' | 'job'>;
  logger: Logger;
  /** Test hooks for the webhook timers. */
  webhooks?: Pick<WebhooksOptions, 'sweepMs' | 'blockMs' | 'claimIdleMs'>;
}): LazyJobsContext {
  const { config, client, logger } = options;
  let opening: Promise<JobsContext> | undefined;
  let closed = false;
  return {
    get() {
      if (closed) return Promise.reject(new ConveyorError('ERR_CLOSED', 'the producer is closing'));
      opening ??= (async () => {
        const queues = await createQueueRegistry(config, logger);
        try {
          const webhooks = await createWebhooks({
            config,
            queues,
            client,
            logger,
            ...options.webhooks,
          });
          return { queues, webhooks };
        } catch (error) {
          await queues.close();
          throw error;
        }
      })();
      // A failed open (Redis down) is tried again on the next request.
      opening.catch(() => {
        if (!closed) opening = undefined;
      });
      return opening;
    },
    async close() {
      closed = true;
      const context = await opening?.catch(() => undefined);
      if (!context) return;
      await context.webhooks.close();
      await context.queues.close();
    },
  };
}
