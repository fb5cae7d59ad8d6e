import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import helmet from '@fastify/helmet';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ConveyorClient } from '@conveyor/sdk';
import { queueName } from '@conveyor/shared';
import type { LazyJobsContext } from '../jobs/jobs-context.js';

/** Where the queue dashboard is served. */
export const DASHBOARD_PATH = '/dashboard';

/** The Conveyor dashboard's page (src/console/), linked from the board's menu. */
const CONSOLE_LINK = '/console';

export interface DashboardOptions {
  /** Names the models whose queues the dashboard shows. */
  client: Pick<ConveyorClient, 'models'>;
  context: LazyJobsContext;
  /** Least time between two reads of the model list, in ms. Default 5000. */
  refreshMs?: number;
}

/**
 * The security headers of the dashboard's answers (@fastify/helmet, in the dashboard's context
 * only): a Content-Security-Policy that lets the page load nothing but its own files and be
 * framed by no one (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers),
 * against clickjacking. The board uses inline styles, hence `'unsafe-inline'` for styles only.
 */
export const DASHBOARD_HEADERS = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      baseUri: ["'self'"],
      connectSrc: ["'self'"],
      fontSrc: ["'self'", 'data:'],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      imgSrc: ["'self'", 'data:'],
      objectSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
    },
  },
  frameguard: { action: 'deny' },
  // TLS is the proxy's business (docs/security.md): no HSTS from a producer that may be plain HTTP.
  strictTransportSecurity: false,
} as const;

/** bull-board's page links its web fonts from an outside host; the page is served without it. */
const OUTSIDE_LINK = /<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>/gi;

function withoutOutsideLinks(reply: FastifyReply, payload: unknown): unknown {
  const type = reply.getHeader('content-type');
  if (typeof payload !== 'string' || typeof type !== 'string' || !type.startsWith('text/html'))
    return payload;
  return payload.replace(OUTSIDE_LINK, '');
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
    options: {
      uiConfig: {
        boardTitle: 'Conveyor',
        // To the Conveyor dashboard (models, workers, charts), which links back here.
        miscLinks: [{ text: 'Conveyor dashboard', url: CONSOLE_LINK }],
      },
    },
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

  await app.register(helmet, DASHBOARD_HEADERS);
  app.addHook('onSend', async (_request, reply, payload) => withoutOutsideLinks(reply, payload));
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
