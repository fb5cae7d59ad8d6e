/**
 * The producer process: `node dist/main.js` (or `pnpm producer`), the only file that listens.
 * Configured by environment variables (docs/configuration.md). Exits 1 when the configuration is
 * invalid or it cannot start, and 0 after a graceful shutdown on SIGTERM or SIGINT (also during
 * start-up). When Redis does not answer at start it logs one line per attempt and tries again
 * with capped exponential backoff.
 */
import { Redis } from 'ioredis';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import {
  createLogger,
  isConveyorError,
  loadConfigOrExit,
  waitForRedis,
  redactUrl,
  redisOptions,
  exitOnSignals,
  throttledErrorLog,
} from '@conveyor/shared';
import { buildApp, type App } from './app.js';
import { clientOptionsFromConfig } from './client-options.js';

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.LOG_LEVEL, component: 'producer' });
const redis = redactUrl(config.REDIS_URL);

// A dedicated connection for the readiness probe, so a PING never queues behind job traffic.
const pinger = new Redis(config.REDIS_URL, {
  ...redisOptions('producer', 'conveyor-producer-health'),
  lazyConnect: true,
});
pinger.on('error', throttledErrorLog(log, 'redis health connection error'));

// Signals are handled from the first moment: during the wait for Redis they end it; later the
// shutdown waits for start-up to settle, then closes whatever started.
const stopping = new AbortController();
let client: ConveyorClient | undefined;
let app: App | undefined;
let closing: Promise<void> | undefined;
const shutdown = (): Promise<void> =>
  (closing ??= (async () => {
    stopping.abort();
    await starting.catch(() => undefined);
    await app?.close();
    await client?.close();
    await pinger.quit().catch(() => pinger.disconnect());
    log.info('producer stopped');
  })());
exitOnSignals(log, shutdown);

// Signal handlers run on a later turn of the event loop, when `starting` is set.
const starting = (async () => {
  await waitForRedis(config.REDIS_URL, log, 'conveyor-producer-probe', stopping.signal);
  client = await createClient(clientOptionsFromConfig(config, log));
  await pinger.connect();
  app = buildApp(config, {
    client,
    logger: log,
    redisPing: async () => (await pinger.ping()) === 'PONG',
  });
  await app.listen({
    host: config.PRODUCER_HOST,
    port: config.PRODUCER_PORT,
    backlog: config.PRODUCER_BACKLOG,
  });
  log.info(
    {
      host: config.PRODUCER_HOST,
      port: config.PRODUCER_PORT,
      redis,
      prefix: config.REDIS_KEY_PREFIX,
    },
    'producer ready',
  );
})();

try {
  await starting;
} catch (err) {
  // Aborted by a signal: the signal's handler exits 0 once closed.
  if (!stopping.signal.aborted) {
    // Redis answered a moment ago and failed again, or the port is taken: one clear line, and
    // the supervisor restarts us.
    log.fatal(
      {
        err,
        redis,
        host: config.PRODUCER_HOST,
        port: config.PRODUCER_PORT,
        code: isConveyorError(err) ? err.code : 'ERR_INTERNAL',
      },
      'producer failed to start',
    );
    await shutdown().catch(() => undefined);
    process.exit(1);
  }
}
