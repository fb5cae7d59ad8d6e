import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import {
  StatusHistorySchema,
  type Config,
  type ConveyorStatus,
  type Logger,
} from '@conveyor/shared';
import { ErrorBodySchema } from '../oip/schemas.js';
import { DASHBOARD_HEADERS } from '../plugins/dashboard.js';
import { createStatusSampler, type StatusSampler } from './status-sampler.js';

/** Where the Conveyor dashboard is served (bull-board's queue lists stay at /dashboard). */
export const CONSOLE_PATH = '/console';

/** Where its history API is served; `/v1/status` is the status at one moment. */
export const HISTORY_PATH = '/v1/status/history';

/**
 * The page's own files, beside this module in the sources. From `dist/console/` the same path
 * leads back to `src/console/public/`, which the package ships: tsc copies no `.js` or `.html`.
 */
const PUBLIC_DIR = fileURLToPath(new URL('../../src/console/public/', import.meta.url));

/** The files of the page that are served; the rest of the folder (types, tsconfig) is not. */
const PAGE_FILES = new Set([
  '/index.html',
  '/console.css',
  '/console.js',
  '/charts.js',
  '/predict.js',
  '/tables.js',
]);

/** uPlot's ES module and stylesheet, served from the installed package: no outside host. */
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));
const UPLOT_FILES = new Set(['/uPlot.esm.js', '/uPlot.min.css']);

export interface ConveyorConsoleOptions {
  /** Reads the status once (`client.status()`). */
  readStatus: () => Promise<ConveyorStatus>;
  config: Pick<Config, 'STATUS_SAMPLE_MS' | 'STATUS_HISTORY_MS'>;
  logger: Logger;
}

const historyRoute: FastifyPluginCallbackZod<{ sampler: StatusSampler }> = (
  app,
  { sampler },
  done,
) => {
  app.get(
    HISTORY_PATH,
    {
      onRequest: app.requireScope('admin'),
      schema: {
        summary: 'Recent status history',
        description:
          'Samples of the status (every STATUS_SAMPLE_MS, over STATUS_HISTORY_MS) as columns: per model version, jobs completed and failed per second, queue depth, backlog and latency percentiles; failed attempts by code in the window. The first request starts the sampling.',
        response: { 200: StatusHistorySchema, 401: ErrorBodySchema, 403: ErrorBodySchema },
      },
    },
    () => sampler.history(),
  );
  done();
};

/** The page and its files, with the dashboard's security headers (no inline script, no framing). */
const page: FastifyPluginAsync<{ sampler: StatusSampler }> = async (app, { sampler }) => {
  await app.register(helmet, DASHBOARD_HEADERS);
  app.addHook('onRequest', app.requireScope('admin'));
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: `${CONSOLE_PATH}/`,
    index: false,
    allowedPath: (path) => PAGE_FILES.has(path),
  });
  await app.register(fastifyStatic, {
    root: UPLOT_DIR,
    prefix: `${CONSOLE_PATH}/vendor/`,
    decorateReply: false,
    index: false,
    allowedPath: (path) => UPLOT_FILES.has(path),
  });
  app.get(CONSOLE_PATH, { schema: { hide: true } }, async (_request, reply) => {
    // The page draws the history at once: start sampling now, not on its first poll.
    void sampler.history().catch(() => undefined);
    return reply.sendFile('/index.html');
  });
};

/**
 * The Conveyor dashboard at /console, behind the admin scope: models, workers, queues and
 * failures from `GET /v1/status`, charts of `GET /v1/status/history` (uPlot), and a form that
 * sends a test prediction. It also serves that history route, and owns the sampler behind it.
 */
export const conveyorConsole: FastifyPluginAsync<ConveyorConsoleOptions> = async (app, options) => {
  const sampler = createStatusSampler({
    read: options.readStatus,
    sampleMs: options.config.STATUS_SAMPLE_MS,
    windowMs: options.config.STATUS_HISTORY_MS,
    logger: options.logger,
  });
  app.addHook('onClose', () => sampler.close());
  await app.register(historyRoute, { sampler });
  await app.register(page, { sampler });
};
