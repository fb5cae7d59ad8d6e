/**
 * The worker process: `node dist/main.js` (or `pnpm worker`). Configured by environment variables
 * (docs/configuration.md). When Redis does not answer at start it logs one line per attempt and
 * tries again with capped exponential backoff instead of exiting; exits 0 after a graceful
 * shutdown on SIGTERM or SIGINT.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  createLogger,
  exitOnSignals,
  isConveyorError,
  loadConfigOrExit,
  redactUrl,
  type Logger,
} from '@conveyor/shared';
import { startWorkerService } from './worker-service.js';

/** First delay between start-up attempts; doubled each attempt up to STARTUP_RETRY_MAX_MS. */
const STARTUP_RETRY_FIRST_MS = 500;
const STARTUP_RETRY_MAX_MS = 10_000;

/**
 * Resolves once Redis answers PING. A supervisor restarting a process that exits at once would
 * spam the logs and reload every model each time; waiting here costs one warning per attempt.
 */
async function waitForRedis(url: string, log: Logger): Promise<void> {
  let delayMs = STARTUP_RETRY_FIRST_MS;
  for (let attempt = 1; ; attempt++) {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 2000,
      connectionName: 'conveyor-worker-probe',
    });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch (err) {
      log.warn(
        {
          redis: redactUrl(url),
          attempt,
          retryInMs: delayMs,
          code: 'ERR_QUEUE_UNAVAILABLE',
          reason: err instanceof Error ? err.message : String(err),
        },
        'redis did not answer at start; retrying',
      );
    } finally {
      probe.disconnect();
    }
    await sleep(delayMs);
    delayMs = Math.min(delayMs * 2, STARTUP_RETRY_MAX_MS);
  }
}

const config = loadConfigOrExit(process.env);
const log = createLogger({ level: config.LOG_LEVEL, component: 'worker' });

try {
  await waitForRedis(config.REDIS_URL, log);
  const service = await startWorkerService(config, log);
  if (service.models.length === 0) {
    log.fatal({ repository: config.MODEL_REPOSITORY }, 'no model can be served');
    await service.close();
    process.exit(1);
  }
  exitOnSignals(log, () => service.close());
} catch (err) {
  log.fatal(
    { err, code: isConveyorError(err) ? err.code : 'ERR_INTERNAL' },
    'worker failed to start',
  );
  process.exit(1);
}
