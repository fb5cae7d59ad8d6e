import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { loadConfig, redactUrl, type Config } from './config.js';
import { isConveyorError } from './errors.js';
import { createRedisClient, type RedisClient } from './redis-client.js';
import {
  isSentinelGroup,
  redisTarget,
  type RedisTarget,
  type RedisTopology,
} from './redis-target.js';

/** Beyond the shutdown timeout, how long a process may take to close before it exits anyway. */
export const SHUTDOWN_MARGIN_MS = 5000;

/** How long a connection gets to close politely (QUIT) once shutdown has no time left to give it. */
export const CLOSE_GRACE_MS = 1000;

export interface ExitOnSignalsOptions {
  /**
   * The process's shutdown timeout (SHUTDOWN_TIMEOUT_MS): when `close` has not settled this long
   * plus SHUTDOWN_MARGIN_MS after the signal, the process logs what is unfinished and exits 1.
   */
  timeoutMs: number;
  /** What is still unfinished, merged into the record logged when the process exits early. */
  unfinished?: () => Record<string, unknown>;
}

/**
 * Runs `close` once on the first SIGTERM or SIGINT, then exits 0 (or 1 when closing fails). It
 * exits 1 without waiting any longer when `close` outlives the shutdown timeout plus
 * SHUTDOWN_MARGIN_MS (Redis away or frozen must not keep a process alive), or when a second
 * signal arrives. Used by every Conveyor process so they all stop the same way.
 */
export function exitOnSignals(
  log: Logger,
  close: () => Promise<void>,
  options: ExitOnSignalsOptions,
): void {
  const { timeoutMs, unfinished = () => ({}) } = options;
  let first: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (first !== undefined) {
      log.warn(
        { signal, first, ...unfinished() },
        'second signal: exiting without finishing shutdown',
      );
      exitAfterLogs(log, 1);
      return;
    }
    first = signal;
    log.info({ signal, timeoutMs }, 'signal received');
    setTimeout(() => {
      log.error(
        { signal, timeoutMs, marginMs: SHUTDOWN_MARGIN_MS, ...unfinished() },
        'shutdown did not finish in time; exiting',
      );
      exitAfterLogs(log, 1);
    }, timeoutMs + SHUTDOWN_MARGIN_MS);
    close().then(
      () => exitAfterLogs(log, 0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        exitAfterLogs(log, 1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** How long an exiting process waits for its log records to reach stdout. */
const LOG_FLUSH_MS = 500;

/**
 * Exits once the log records written so far have reached their destination. pino writes stdout
 * asynchronously; at process.exit it flushes what is buffered synchronously, which can overtake a
 * write still under way, so the last records (what a shutdown left unfinished) came out of order.
 */
export function exitAfterLogs(log: Logger, code: number): void {
  process.exitCode = code;
  const exit = () => process.exit(code);
  setTimeout(exit, LOG_FLUSH_MS).unref();
  try {
    log.flush(exit);
  } catch {
    exit();
  }
}

/**
 * Waits for `work` at most `ms`: true when it settled in time (resolved or rejected; attach a
 * `catch` first to see the error), false when the time ran out. `work` goes on either way.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Closes a Redis connection: QUIT, which lets the replies under way arrive, or disconnect() when
 * QUIT gets no answer within `ms` (Redis frozen, or away with commands queued for it, which are
 * dropped). Resolves false when the connection had to be dropped with work in it.
 */
export async function closeRedis(connection: RedisClient, ms: number): Promise<boolean> {
  if (connection.status === 'end') return true;
  // Never connected (lazyConnect), or away with no queue of commands: nothing to wait for.
  if (
    connection.status === 'wait' ||
    (connection.status !== 'ready' && !connection.options.enableOfflineQueue)
  ) {
    connection.disconnect();
    return true;
  }
  const quit = connection.quit();
  const closed =
    (await settledWithin(quit, ms)) &&
    (await quit.then(
      () => true,
      () => false,
    ));
  if (!closed) connection.disconnect();
  return closed;
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
 * What start-up attempt `attempt` probes: the server of the URL, the master of a Sentinel group
 * (asked of its sentinels), or one seed node of a cluster in turn (a node answers PING alone,
 * without the cluster's state).
 */
function probeTarget(
  url: string,
  topology: RedisTopology | undefined,
  attempt: number,
): RedisTarget {
  if (topology === undefined || isSentinelGroup(topology)) return redisTarget(url, topology);
  const node = topology[(attempt - 1) % topology.length];
  return { ...redisTarget(url), ...(node && { host: node.host, port: node.port, db: 0 }) };
}

/**
 * Resolves once Redis answers PING (for a cluster, one of its seed nodes; for Sentinel, the master
 * its sentinels name: `topology`, see configTopology). A supervisor restarting a process that
 * exits at once would spam the logs; waiting here costs one warning per attempt. Rejects
 * (AbortError) when `signal` aborts, so a SIGTERM during the wait ends it.
 */
export async function waitForRedis(
  url: string,
  log: Logger,
  connectionName: string,
  signal?: AbortSignal,
  topology?: RedisTopology,
): Promise<void> {
  let delayMs = STARTUP_RETRY_FIRST_MS;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const probe = createRedisClient(probeTarget(url, topology, attempt), {
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
