/**
 * The producer process: `node dist/main.js` (or `pnpm producer`), the only file that listens.
 * Configured by environment variables (docs/configuration.md). Exits 1 when the configuration is
 * invalid, and 0 after a graceful shutdown on SIGTERM or SIGINT. When Redis does not answer at
 * start it logs one line per attempt and tries again with capped exponential backoff.
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
import { buildApp } from './app.js';
import { clientOptionsFromConfig } from './client-options.js';

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.LOG_LEVEL, component: 'producer' });
const redis = redactUrl(config.REDIS_URL);

let client: ConveyorClient;
// A dedicated connection for the readiness probe, so a PING never queues behind job traffic.
const pinger = new Redis(config.REDIS_URL, {
  ...redisOptions('producer', 'conveyor-producer-health'),
  lazyConnect: true,
});
pinger.on('error', throttledErrorLog(log, 'redis health connection error'));
try {
  await waitForRedis(config.REDIS_URL, log, 'conveyor-producer-probe');
  client = await createClient(clientOptionsFromConfig(config, log));
  await pinger.connect();
} catch (err) {
  // Redis answered a moment ago and failed again: one clear line, and the supervisor restarts us.
  log.fatal(
    { err, redis, code: isConveyorError(err) ? err.code : 'ERR_QUEUE_UNAVAILABLE' },
    'redis did not answer at start',
  );
  pinger.disconnect();
  process.exit(1);
}

const app = buildApp(config, {
  client,
  logger: log,
  redisPing: async () => (await pinger.ping()) === 'PONG',
});

let closing: Promise<void> | undefined;
const shutdown = (): Promise<void> =>
  (closing ??= (async () => {
    await app.close();
    await client.close();
    await pinger.quit().catch(() => pinger.disconnect());
    log.info('producer stopped');
  })());

exitOnSignals(log, shutdown);

try {
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
} catch (err) {
  log.fatal(
    { err, host: config.PRODUCER_HOST, port: config.PRODUCER_PORT },
    'producer failed to listen',
  );
  await shutdown().catch(() => undefined);
  process.exit(1);
}
