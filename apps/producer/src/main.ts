/**
 * The producer process: `node dist/main.js` (or `pnpm producer`), the only file that listens.
 * Configured by environment variables (docs/configuration.md). Exits 1 when the configuration is
 * invalid or it cannot start, and 0 after a graceful shutdown on SIGTERM or SIGINT (also during
 * start-up). When Redis does not answer at start it logs one line per attempt and tries again
 * with capped exponential backoff.
 */
import { Redis } from 'ioredis';
import { createClient, type QueueClient } from '@conveyor/sdk';
import {
  CLOSE_GRACE_MS,
  closeRedis,
  createLogger,
  settledWithin,
  isConveyorError,
  loadConfigOrExit,
  waitForRedis,
  PRODUCER_COMMAND_TIMEOUT_MS,
  redactUrl,
  redisAddress,
  redisOptions,
  redisUnavailable,
  redisWithin,
  exitOnSignals,
  throttledErrorLog,
} from '@conveyor/shared';
import { buildApp, type App } from './app.js';
import { clientOptionsFromConfig } from './client-options.js';

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.LOG_LEVEL, component: 'producer' });
const redis = redactUrl(config.REDIS_URL);

// A dedicated connection for the readiness probe, so a PING never queues behind job traffic. Its
// PING fails within PING_TIMEOUT_MS, under the probe's own 1000 ms (plugins/health.ts), so the
// probe reports which Redis did not answer.
const PING_TIMEOUT_MS = 750;
const redisAt = redisAddress(config.REDIS_URL);
const pinger = new Redis(config.REDIS_URL, {
  ...redisOptions('producer', 'conveyor-producer-health', { commandTimeoutMs: PING_TIMEOUT_MS }),
  lazyConnect: true,
});
pinger.on('error', throttledErrorLog(log, 'redis health connection error'));

// Signals are handled from the first moment: during the wait for Redis they end it; later the
// shutdown waits for start-up to settle, then closes whatever started.
const stopping = new AbortController();
let client: QueueClient | undefined;
let app: App | undefined;
let closing: Promise<void> | undefined;
/** The step of the shutdown under way, for the record of a process that exits before its end. */
let closingStep: string | undefined;
// Every step waits until SHUTDOWN_TIMEOUT_MS after the signal at most (then CLOSE_GRACE_MS each):
// with Redis away or frozen, a close can wait for ever. Whatever did not finish is logged.
const shutdown = (): Promise<void> =>
  (closing ??= (async () => {
    stopping.abort();
    const timeoutMs = config.SHUTDOWN_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const unfinished: string[] = [];
    const step = async (name: string, work: () => Promise<unknown> | undefined) => {
      closingStep = name;
      const done = work()?.catch((err: unknown) => log.warn({ err, step: name }, 'close failed'));
      const ms = Math.max(deadline - Date.now(), CLOSE_GRACE_MS);
      if (done && !(await settledWithin(done, ms))) unfinished.push(name);
    };
    await step('start-up', () => starting.catch(() => undefined));
    await step('http server (requests still open)', () => app?.close());
    await step('queue client', () => client?.close());
    closingStep = 'redis health connection';
    if (!(await closeRedis(pinger, CLOSE_GRACE_MS)))
      unfinished.push('redis health connection (dropped without QUIT)');
    if (unfinished.length > 0) log.warn({ timeoutMs, unfinished }, 'producer shutdown incomplete');
    log.info('producer stopped');
  })());
exitOnSignals(log, shutdown, {
  timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  unfinished: () => ({ step: closingStep ?? 'start-up' }),
});

// Signal handlers run on a later turn of the event loop, when `starting` is set.
const starting = (async () => {
  await waitForRedis(config.REDIS_URL, log, 'conveyor-producer-probe', stopping.signal);
  client = await createClient(clientOptionsFromConfig(config, log));
  await redisWithin(pinger.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS).catch((error: unknown) => {
    throw redisUnavailable(redisAt, error);
  });
  app = buildApp(config, {
    client,
    logger: log,
    redisPing: async () => {
      try {
        return (await pinger.ping()) === 'PONG';
      } catch (error) {
        throw redisUnavailable(redisAt, error, PING_TIMEOUT_MS);
      }
    },
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
