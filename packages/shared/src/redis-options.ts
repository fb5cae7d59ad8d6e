import { ConveyorError, isConveyorError } from './errors.js';

/**
 * The connection rules BullMQ needs, in one place, and what a failed Redis call means to whoever
 * made it. The options are plain ioredis option objects so that this module needs no Redis client.
 */
export type RedisRole = 'worker' | 'producer';

/**
 * How long a producer connection waits for any one reply, in ms. A frozen Redis (SIGSTOP, a hung
 * host) keeps its socket open, so without a limit a command waits for ever; a healthy Redis answers
 * in well under a millisecond, and a 16 MiB write on a 1 Gbit/s link takes about 150 ms.
 */
export const PRODUCER_COMMAND_TIMEOUT_MS = 2000;

export interface RedisConnectionOptions {
  /** Blocking worker connections must never give up a command; producers must fail fast. */
  maxRetriesPerRequest: number | null;
  /** Producers refuse commands while disconnected instead of queueing them in memory. */
  enableOfflineQueue: boolean;
  /**
   * Producers only: a command unanswered this long fails (ioredis `commandTimeout`). Never on a
   * worker connection: it would cut a blocking read (BZPOPMIN, XREAD BLOCK) short, and the reply
   * that comes later would be dropped with the events it carries.
   */
  commandTimeout?: number;
  /**
   * Producers only, read by BullMQ from the connection: no INFO version check when a Queue first
   * uses it. That check runs once per Queue, and if it times out the Queue stays broken after Redis
   * answers again. Workers still check the version.
   */
  skipVersionCheck?: boolean;
  /** Reconnect delay in ms: grows with each attempt, capped at 5 s. */
  retryStrategy: (attempt: number) => number;
  connectionName: string;
}

export function redisOptions(
  role: RedisRole,
  name: string,
  tuning: { commandTimeoutMs?: number } = {},
): RedisConnectionOptions {
  const options: RedisConnectionOptions = {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
    connectionName: name,
  };
  if (role === 'producer') {
    options.commandTimeout = tuning.commandTimeoutMs ?? PRODUCER_COMMAND_TIMEOUT_MS;
    options.skipVersionCheck = true;
  }
  return options;
}

/** `host:port` of a Redis URL or of connection options, never its credentials. */
export function redisAddress(target: string | { host?: string; port?: number }): string {
  let host: string;
  let port: string;
  if (typeof target === 'string') {
    if (!URL.canParse(target)) return '(unparseable Redis URL)';
    const url = new URL(target);
    host = url.hostname;
    port = url.port || '6379';
  } else {
    host = target.host ?? '127.0.0.1';
    port = String(target.port ?? 6379);
  }
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A wait for Redis that a caller bounded itself (a connection, a request's deadline) ran out. */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`);
  }
}

/** Where a Redis URL is set, for a message that says to check it. */
const URL_SETTINGS =
  "REDIS_URL, --redis-url or the SDK's redisUrl; the Redis of a `conveyor dev` is in .conveyor/dev.json of its folder";

/**
 * The end of ERR_MODEL_NOT_FOUND for a model no worker has announced: on which Redis and key
 * prefix the client looked (`redis`: a URL or address without credentials), and what to do.
 */
export function notAnnouncedHint(redis: string, prefix: string): string {
  return `on ${redis} (key prefix "${prefix}"): start a worker serving it there (\`conveyor worker\`), or point REDIS_URL and REDIS_KEY_PREFIX (the SDK's redisUrl and prefix) at the Redis your workers use (\`conveyor dev\` writes its own to .conveyor/dev.json)`;
}

/** What went wrong with a Redis call, and the sentence a client reads about it. */
const CAUSES: readonly {
  reason: string;
  test: (message: string, code: string | undefined) => boolean;
  text: (address: string, timeoutMs: number, message: string) => string;
}[] = [
  {
    reason: 'timeout',
    test: (m) => m === 'Command timed out',
    text: (a, ms) =>
      `Redis at ${a} did not answer within ${ms} ms; check that it is running and not paused or overloaded (a slow command, a stalled disk or host), and the network to it`,
  },
  {
    reason: 'refused',
    test: (m, code) => code === 'ECONNREFUSED' || m.includes('ECONNREFUSED'),
    text: (a) =>
      `Redis at ${a} refused the connection; check that it is running and that the Redis URL names its host and port (${URL_SETTINGS})`,
  },
  {
    reason: 'unknown-host',
    test: (m, code) =>
      code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /ENOTFOUND|EAI_AGAIN/.test(m),
    text: (a) =>
      `the host of Redis at ${a} could not be resolved; check the Redis URL (${URL_SETTINGS})`,
  },
  {
    reason: 'connect-timeout',
    test: (m, code) => code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || /ETIMEDOUT/.test(m),
    text: (a) =>
      `could not connect to Redis at ${a} (no answer to the connection attempt); check the network and firewalls between here and Redis`,
  },
  {
    reason: 'disconnected',
    test: (m, code) =>
      code === 'ECONNRESET' ||
      code === 'EPIPE' ||
      /enableOfflineQueue|Connection is closed|max retries per request|ECONNRESET|EPIPE|socket/i.test(
        m,
      ),
    text: (a) =>
      `not connected to Redis at ${a} (the connection was lost and is being re-established); check that Redis is running and reachable from here`,
  },
  {
    reason: 'auth',
    test: (m) =>
      /^(NOAUTH|WRONGPASS)|invalid (username-)?password|AUTH.*(failed|called without)/i.test(m),
    text: (a) =>
      `Redis at ${a} refused the credentials; check the user name and password in the Redis URL`,
  },
  {
    reason: 'permission',
    test: (m) => m.startsWith('NOPERM'),
    text: (a, _ms, m) =>
      `the Redis user at ${a} lacks a permission (${m}); grant it the commands and keys Conveyor uses`,
  },
  {
    reason: 'out-of-memory',
    test: (m) => m.startsWith('OOM'),
    text: (a) =>
      `Redis at ${a} is out of memory (maxmemory reached); free memory, raise maxmemory, or keep fewer finished jobs`,
  },
  {
    reason: 'read-only',
    test: (m) => m.startsWith('READONLY'),
    text: (a) => `Redis at ${a} is a read-only replica; point the Redis URL at the primary`,
  },
  {
    reason: 'loading',
    test: (m) => m.startsWith('LOADING'),
    text: (a) => `Redis at ${a} is still loading its data into memory; retry in a moment`,
  },
  {
    reason: 'persistence',
    test: (m) => m.startsWith('MISCONF'),
    text: (a) =>
      `Redis at ${a} refuses writes because it cannot save to disk (MISCONF); check its disk and its log`,
  },
  {
    reason: 'busy',
    test: (m) => m.startsWith('BUSY'),
    text: (a) => `Redis at ${a} is busy running a script; retry in a moment`,
  },
];

/**
 * ERR_QUEUE_UNAVAILABLE for a failed Redis call: names the Redis (`address`, see redisAddress) and
 * says what to check, in place of the client library's own wording; the original error is its
 * `cause`. A ConveyorError passes unchanged. `timeoutMs` is the connection's command timeout.
 */
export function redisUnavailable(
  address: string,
  error: unknown,
  timeoutMs = PRODUCER_COMMAND_TIMEOUT_MS,
): ConveyorError {
  if (isConveyorError(error)) return error;
  const raw = error instanceof Error ? error.message : String(error);
  const message = raw.split('\n', 1)[0] ?? '';
  const code = (error as { code?: unknown } | undefined)?.code;
  let reason = 'failed';
  let text = `Redis at ${address} failed: ${message}`;
  if (error instanceof RedisTimeoutError) {
    reason = 'timeout';
    text = CAUSES[0]?.text(address, error.timeoutMs, message) ?? text;
  } else {
    const cause = CAUSES.find((c) => c.test(message, typeof code === 'string' ? code : undefined));
    if (cause) {
      reason = cause.reason;
      text = cause.text(address, timeoutMs, message);
    }
  }
  return new ConveyorError('ERR_QUEUE_UNAVAILABLE', text, {
    cause: error,
    details: { redis: address, reason },
  });
}

/**
 * Resolves when `work` does, or rejects with RedisTimeoutError after `ms`, so a caller's own limit
 * holds whatever the connection does meanwhile (ioredis retries a connection attempt on a frozen
 * Redis for several command timeouts). The work goes on; its late outcome is ignored.
 */
export async function redisWithin<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
