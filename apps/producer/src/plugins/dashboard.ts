import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyPluginAsync } from 'fastify';
import type { ConveyorClient } from '@conveyor/sdk';
import { queueName } from '@conveyor/shared';
import type { LazyJobsContext } from '../routes/jobs-context.js';

/** Where the queue dashboard is served. */
export const DASHBOARD_PATH = '/dashboard';

export interface DashboardOptions {
  /** Names the models whose queues the dashboard shows. */
  client: Pick<ConveyorClient, 'models'>;
  context: LazyJobsContext;
  /** Least time between two reads of the model list, in ms. Default 5000. */
  refreshMs?: number;
}

/**
 * The bull-board queue dashboard at /dashboard: one queue per announced model (`predict.<model>`)
 * and the webhook `callbacks` queue, behind the `admin` scope. The model list is read again on a
 * request at most every `refreshMs`, so models announced later appear on the next page load.
 *
 * bull-board's fastify adapter registers its own routes, static files, views and error handler
 * in the child context it is registered in; its routes carry no validation or response schema,
 * so the zod compilers of the app are never asked to compile anything for them.
 */
export const dashboard: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const refreshMs = options.refreshMs ?? 5000;
  const serverAdapter = new FastifyAdapter().setBasePath(DASHBOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Conveyor' } },
  });
  // bull-board's own handler would answer every error (an auth refusal too) with its own body;
  // rethrown, an error reaches the app's handler: the usual body, status and headers.
  serverAdapter.setErrorHandler((error) => {
    throw error;
  });
  const adapters = new Map<string, BullMQAdapter>();
  let refreshedAt = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<void> | undefined;

  const refresh = async () => {
    const ctx = await options.context.get();
    // One queue per model version.
    const models = [
      ...new Set((await options.client.models()).map((m) => queueName(m.name, m.version))),
    ].sort();
    for (const model of models) {
      if (!adapters.has(model)) adapters.set(model, new BullMQAdapter(ctx.queues.predict(model)));
    }
    const callbacks = new BullMQAdapter(ctx.webhooks.queue, {
      description: 'webhook deliveries of jobs submitted with a callback_url',
    });
    board.replaceQueues([
      ...models.map((m) => adapters.get(m)).filter((a) => a !== undefined),
      callbacks,
    ]);
    refreshedAt = Date.now();
  };

  app.addHook('onRequest', app.requireScope('admin'));
  app.addHook('preHandler', async (request) => {
    if (Date.now() - refreshedAt < refreshMs) return;
    refreshing ??= refresh()
      .catch((err: unknown) => request.log.warn({ err }, 'dashboard queue list not refreshed'))
      .finally(() => {
        refreshing = undefined;
      });
    await refreshing;
  });

  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
};
