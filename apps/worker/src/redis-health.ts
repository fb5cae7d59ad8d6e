import {
  createRedisClient,
  redisTarget,
  targetAddress,
  type Logger,
  type RedisTopology,
} from '@conveyor/shared';

/** Time between two PINGs of the health connection. */
export const REDIS_PING_INTERVAL_MS = 2000;
/** A PING unanswered this long marks Redis as not answering (a frozen server keeps its sockets open). */
export const REDIS_PING_TIMEOUT_MS = 2000;
/**
 * Stamps a worker's beat by the Redis server's clock and drops beats older than an hour (workers
 * that stopped without removing theirs). With a second key, also writes the worker's record there
 * (ARGV[2], a JSON object missing its closing brace) with a time to live of ARGV[3] ms, completed
 * with its startedAt (ARGV[4], or this beat when empty) and beatAt: one command for both.
 */
const BEAT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - 3600000)
if KEYS[2] then
  local started = ARGV[4]
  if started == '' then started = string.format('%d', ms) end
  local record = ARGV[2] .. ',"startedAt":' .. started .. ',"beatAt":' .. string.format('%d', ms) .. '}'
  redis.call('SET', KEYS[2], record, 'PX', ARGV[3])
end
return ms
`;

/** A record written with each beat (the worker registry's; see worker-registry.ts). */
export interface BeatRecord {
  readonly key: string;
  /** Time the record outlives the beat that wrote it, ms. */
  readonly ttlMs: number;
  /** Redis-clock ms of the first beat that wrote the record; undefined before it. */
  readonly startedAt: number | undefined;
  /** The record as a JSON object without its closing brace; the beat appends startedAt and beatAt. */
  body(): string;
  /** Told the Redis-clock ms of each beat that wrote the record. */
  stamped(ms: number): void;
}

/** While Redis does not answer, the warning is repeated at most this often. */
const REMIND_MS = 60_000;

/** Whether Redis answers this worker, as a PING on a connection of its own finds it. */
export interface RedisHealth {
  /** False from the first PING that failed or went unanswered until one is answered again. */
  healthy(): boolean;
  /** Since when (ms since the epoch) Redis has not answered; undefined while it answers. */
  downSince(): number | undefined;
  /** Stops the PINGs and drops the connection (a beat's record is left to expire). */
  close(): void;
  /**
   * Stops the beats, deletes the beat's record (after any beat in flight, on the same connection,
   * so none writes it again) and drops the connection; a Redis that does not answer leaves the
   * record to expire.
   */
  retire(): Promise<void>;
}

/**
 * PINGs Redis every `intervalMs` on a dedicated connection, each with a timeout: the worker's own
 * connections queue their commands and retry forever, so they never tell a Redis that is down from
 * one that stopped answering (frozen by SIGSTOP, a stuck host: the socket stays open). The change
 * to not answering is logged once as a warning (repeated at most every minute while it lasts), the
 * change back as info.
 */
export function watchRedisHealth(options: {
  url: string;
  /**
   * A cluster's seed nodes or a Sentinel group (configTopology); `url` then gives credentials and
   * TLS.
   */
  topology?: RedisTopology | undefined;
  log: Logger;
  intervalMs?: number;
  timeoutMs?: number;
  /**
   * Instead of a PING, stamp this worker's beat (see workerBeatsKey), which also proves Redis
   * answers.
   */
  beat?: { key: string; worker: string; record?: BeatRecord | undefined };
}): RedisHealth {
  const { url, log } = options;
  const intervalMs = options.intervalMs ?? REDIS_PING_INTERVAL_MS;
  const timeoutMs = options.timeoutMs ?? REDIS_PING_TIMEOUT_MS;
  const target = redisTarget(url, options.topology);
  const redis = targetAddress(target);
  const connection = createRedisClient(target, {
    connectionName: 'conveyor-worker-health',
    // A PING while disconnected fails at once instead of waiting in a queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
  });
  // Its errors are what this watch reports, through the state and the warning below.
  let lastError: string | undefined;
  connection.on('error', (err: Error) => (lastError = err.message));

  let since: number | undefined;
  let warnedAt = 0;
  const down = (err: unknown) => {
    const now = Date.now();
    const reason = lastError ?? (err instanceof Error ? err.message : String(err));
    if (since === undefined) {
      since = now;
      warnedAt = now;
      log.warn(
        { redis, reason, timeoutMs, code: 'ERR_QUEUE_UNAVAILABLE' },
        'redis is not answering',
      );
    } else if (now - warnedAt >= REMIND_MS) {
      warnedAt = now;
      log.warn(
        { redis, reason, downForMs: now - since, code: 'ERR_QUEUE_UNAVAILABLE' },
        'redis is still not answering',
      );
    }
  };
  const up = () => {
    lastError = undefined;
    if (since === undefined) return;
    log.info({ redis, downForMs: Date.now() - since }, 'redis answers again');
    since = undefined;
  };

  let closed = false;
  let checked = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  const beat = async ({ key, worker, record }: NonNullable<typeof options.beat>) => {
    if (!record) return void (await connection.eval(BEAT, 1, key, worker));
    const started = record.startedAt === undefined ? '' : String(record.startedAt);
    const args = [record.body(), String(record.ttlMs), started] as const;
    const ms = await connection.eval(BEAT, 2, key, record.key, worker, ...args);
    if (typeof ms === 'number') record.stamped(ms);
  };
  const check = async () => {
    checked = true;
    try {
      if (options.beat) {
        await beat(options.beat);
      } else {
        await connection.ping();
      }
      up();
    } catch (err) {
      if (!closed) down(err);
    }
    if (closed) return;
    timer = setTimeout(() => void (inFlight = check()), intervalMs);
    timer.unref();
  };
  // The first PING waits for the connection to be ready (or as long as a PING may take): one sent
  // while it is still connecting would fail at once and report an outage that is not one.
  timer = setTimeout(() => void (inFlight = check()), intervalMs + timeoutMs);
  timer.unref();
  // Once ready, the first check (and beat) goes at once: a worker counts as live from its start.
  connection.once('ready', () => {
    if (closed || checked) return;
    clearTimeout(timer);
    inFlight = check();
  });

  return {
    healthy: () => since === undefined,
    downSince: () => since,
    close() {
      closed = true;
      clearTimeout(timer);
      connection.disconnect();
    },
    async retire() {
      closed = true;
      clearTimeout(timer);
      await inFlight;
      const record = options.beat?.record;
      if (record) await connection.del(record.key).catch(() => undefined);
      connection.disconnect();
    },
  };
}
