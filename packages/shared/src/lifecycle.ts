import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { loadConfig, redactUrl, type Config } from './config.js';
import { isConveyorError } from './errors.js';

/**
 * Runs `close` once on the first SIGTERM or SIGINT, then exits 0 (or 1 when closing fails).
 * Used by every Conveyor process so they all stop the same way.
 */
export function exitOnSignals(log: Logger, close: () => Promise<void>): void {
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'signal received');
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/**
 * loadConfig for a process entry point: on invalid configuration it writes every problem on one
 * line to stderr and exits 1, before any logger exists.
 */
export function loadConfigOrExit(env: Readonly<Record<string, string | undefined>>): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    process.stderr.write(`${isConveyorError(error) ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

/** First delay between start-up attempts; doubled each attempt up to STARTUP_RETRY_MAX_MS. */
const STARTUP_RETRY_FIRST_MS = 500;
const STARTUP_RETRY_MAX_MS = 10_000;

/**
 * Resolves once Redis answers PING. A supervisor restarting a process that exits at once would
 * spam the logs; waiting here costs one warning per attempt. Rejects (AbortError) when `signal`
 * aborts, so a SIGTERM during the wait ends it.
 */
export async function waitForRedis(
  url: string,
  log: Logger,
  connectionName: string,
  signal?: AbortSignal,
): Promise<void> {
  let delayMs = STARTUP_RETRY_FIRST_MS;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 2000,
      connectionName,
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
    await sleep(delayMs, undefined, signal ? { signal } : undefined);
    delayMs = Math.min(delayMs * 2, STARTUP_RETRY_MAX_MS);
  }
}
