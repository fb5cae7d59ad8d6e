import fastifyRateLimit, {
  type FastifyRateLimitStore,
  type FastifyRateLimitStoreCtor,
  type errorResponseBuilderContext,
} from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import {
  ConveyorError,
  PRODUCER_COMMAND_TIMEOUT_MS,
  redisOptions,
  redisUnavailable,
  redisWithin,
  throttledErrorLog,
  type Config,
  type Logger,
  createRedisClient,
  configTarget,
  targetAddress,
  type RedisClient,
  type RedisConfig,
} from '@conveyor/shared';

export interface RateLimitOptions {
  config: Pick<
    Config,
    | 'RATE_LIMIT_MAX'
    | 'RATE_LIMIT_WINDOW_MS'
    | 'RATE_LIMIT_STORE'
    | keyof RedisConfig
    | 'REDIS_KEY_PREFIX'
  >;
  logger: Logger;
}

/** Routes never limited: load balancers and orchestrators poll them. */
const EXEMPT_PATHS: readonly string[] = ['/v2/health'];

const isExempt = (request: FastifyRequest): boolean => {
  const url = request.routeOptions.url;
  return url !== undefined && EXEMPT_PATHS.some((p) => url === p || url.startsWith(`${p}/`));
};

/**
 * Who a request counts against: its API key by name (set by the auth hook, which runs first), or
 * the client address when auth is off. The secret never becomes a key of the store.
 */
const keyOf = (request: FastifyRequest): string =>
  request.principal ? `key:${request.principal.name}` : `ip:${request.ip}`;

/** Longest a request waits for its count in Redis, in ms; past it the request passes uncounted. */
export const COUNT_TIMEOUT_MS = 500;
/** After a count failed, requests pass uncounted this long without asking Redis, in ms. */
export const PAUSE_AFTER_FAILURE_MS = 1000;
/** How often the requests counted locally are added to the shared counts in Redis, in ms. */
export const SYNC_MS = 100;

/**
 * One count: INCRBY, with the window's expiry set by the request that opens a window; replies
 * `[count, ms left in the window]`. The keys and values are those of @fastify/rate-limit's own
 * Redis store, so replicas of an older producer share the counts.
 */
const COUNT_SCRIPT = `local current = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`;

type CountingRedis = RedisClient & {
  conveyorRateCount(key: string, windowMs: number, by: number): Promise<[number, number]>;
};

/** What this producer knows of one key's count in the current window. */
interface KeyCount {
  /** The count in Redis at its last answer. */
  shared: number;
  /** Requests counted here and not yet sent to Redis. */
  pending: number;
  /** When the window ends, in epoch ms. */
  resetAt: number;
  /** When Redis last answered, in epoch ms. */
  answeredAt: number;
  /** Requests other producers may count within one sync, from their rate between two answers. */
  others: number | undefined;
}

type IncrCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * Counts in Redis without a round trip per request. A request is decided here when this
 * producer's view of the key (the shared count at the last answer, its own requests since, and
 * the others' requests expected within one sync at their last rate) stays within the limit; its
 * count joins a batch sent every SYNC_MS. Otherwise (a new window, the first answers of a key,
 * near the limit) the request waits for its own INCRBY, so the count is exact where it matters.
 * The limit can then be overshot only by requests that other producers take above their last
 * measured rate within one SYNC_MS and one round trip. A count waits at most COUNT_TIMEOUT_MS;
 * after a failure counts that need Redis are skipped for PAUSE_AFTER_FAILURE_MS, and a failed or
 * skipped count lets the request pass (skipOnError).
 */
function redisCountStore(
  redis: RedisClient,
  nameSpace: string,
  windowMs: number,
  onFailure: (error: Error) => void,
): { Store: FastifyRateLimitStoreCtor; close: () => Promise<void> } {
  redis.defineCommand('conveyorRateCount', { numberOfKeys: 1, lua: COUNT_SCRIPT });
  const counting = redis as CountingRedis;
  const counts = new Map<string, KeyCount>();
  let pausedUntil = 0;

  // Redis answers one connection's commands in order: `current` is the last answer's count, plus
  // what this one sent, plus what the others counted in between.
  const send = async (key: string, by: number, window: number): Promise<[number, number]> => {
    try {
      const [current, ttl] = await counting.conveyorRateCount(key, window, by);
      const at = Date.now();
      const known = counts.get(key);
      const resetAt = at + ttl;
      if (!known) {
        counts.set(key, {
          shared: current,
          pending: 0,
          resetAt,
          answeredAt: at,
          others: undefined,
        });
        return [current, ttl];
      }
      const others = current - known.shared - by;
      // After a first answer or in a new window, the others' rate is not known yet.
      known.others =
        at >= known.resetAt || others < 0
          ? undefined
          : Math.max(others, Math.ceil((others * SYNC_MS) / Math.max(1, at - known.answeredAt)));
      known.shared = current;
      known.resetAt = resetAt;
      known.answeredAt = at;
      return [current, ttl];
    } catch (error) {
      pausedUntil = Date.now() + PAUSE_AFTER_FAILURE_MS;
      onFailure(error as Error);
      throw error;
    }
  };

  const sync = async (): Promise<void> => {
    const now = Date.now();
    const batch: Promise<unknown>[] = [];
    for (const [key, count] of counts) {
      if (count.pending === 0) {
        if (now >= count.resetAt) counts.delete(key);
        continue;
      }
      const by = count.pending;
      count.pending = 0;
      // Sent together, they leave as one write; a failed batch is counted again next time.
      batch.push(send(key, by, windowMs).catch(() => (count.pending += by)));
    }
    await Promise.all(batch);
  };
  const timer = setInterval(() => void sync(), SYNC_MS);
  timer.unref();

  const incr = (key: string, callback: IncrCallback, window: number, max: number): void => {
    const now = Date.now();
    const count = counts.get(key);
    if (
      count?.others !== undefined &&
      now < count.resetAt &&
      count.shared + count.pending + count.others + 1 <= max
    ) {
      count.pending += 1;
      callback(null, { current: count.shared + count.pending, ttl: count.resetAt - now });
      return;
    }
    if (now < pausedUntil) {
      callback(new Error('rate limit counts are paused after a Redis failure'));
      return;
    }
    const by = (count?.pending ?? 0) + 1;
    if (count) count.pending = 0;
    send(key, by, window).then(
      ([current, ttl]) => callback(null, { current, ttl }),
      (error: Error) => callback(error),
    );
  };

  class RedisCountStore implements FastifyRateLimitStore {
    // The plugin constructs the store with its options, which this store does not need.
    constructor(
      _options?: unknown,
      private readonly keyPrefix = nameSpace,
    ) {}

    incr(key: string, callback: IncrCallback, timeWindow?: number, max?: number): void {
      incr(this.keyPrefix + key, callback, timeWindow ?? windowMs, max ?? 0);
    }

    // A route with its own limit counts apart, under the keys of the plugin's own Redis store. The
    // plugin passes its merged options with the route as `routeInfo` (not what its types say).
    child(params: object): FastifyRateLimitStore {
      const route = (params as { routeInfo?: { method?: unknown; url?: string } }).routeInfo ?? {};
      return new RedisCountStore(
        undefined,
        `${this.keyPrefix}${String(route.method)}${route.url ?? ''}-`,
      );
    }
  }
  return {
    Store: RedisCountStore,
    close: async () => {
      clearInterval(timer);
      if (redis.status === 'ready') await sync();
    },
  };
}

const plugin: FastifyPluginAsync<RateLimitOptions> = async (app, { config, logger }) => {
  if (config.RATE_LIMIT_MAX === 0) return;
  // Shared counts: every replica increments the same key, so a key's limit holds however many
  // producers serve it. A connection of its own, failing fast; while Redis is away or does not
  // answer, requests pass (skipOnError), as the routes that need Redis answer 503 themselves.
  let store: FastifyRateLimitStoreCtor | undefined;
  if (config.RATE_LIMIT_STORE === 'redis') {
    const redis = createRedisClient(configTarget(config), {
      ...redisOptions('producer', 'conveyor-producer-rate-limit', {
        commandTimeoutMs: COUNT_TIMEOUT_MS,
      }),
      lazyConnect: true,
    });
    redis.on('error', throttledErrorLog(logger, 'rate limit redis connection error'));
    const address = targetAddress(configTarget(config));
    const failed = throttledErrorLog(logger, 'rate limit count failed; requests pass uncounted');
    const counter = redisCountStore(
      redis,
      `${config.REDIS_KEY_PREFIX}:rate-limit:`,
      config.RATE_LIMIT_WINDOW_MS,
      (error) => failed(redisUnavailable(address, error, COUNT_TIMEOUT_MS)),
    );
    store = counter.Store;
    // Ready before the first request (this connection does not queue commands while it connects);
    // if Redis is down or frozen now, it keeps reconnecting and requests pass meanwhile.
    await redisWithin(redis.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS).catch(() => undefined);
    app.addHook('onClose', async () => {
      // The last requests counted here are sent before the connection closes.
      await counter.close();
      await redis.quit().catch(() => redis.disconnect());
    });
  }
  await app.register(fastifyRateLimit, {
    global: true,
    ...(store && { store, skipOnError: true }),
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    // Route-level onRequest hooks run after the app-level auth hook, so request.principal is
    // known, unauthorized requests are refused before they count, and a limited request is
    // refused before its body is read or validated.
    hook: 'onRequest',
    keyGenerator: keyOf,
    allowList: (request: FastifyRequest) => isExempt(request),
    errorResponseBuilder: (request: FastifyRequest, context: errorResponseBuilderContext) =>
      new ConveyorError(
        'ERR_RATE_LIMITED',
        `rate limit of ${context.max} requests per ${config.RATE_LIMIT_WINDOW_MS} ms reached; retry in ${context.after}`,
        {
          details: {
            retryAfterS: Math.max(1, Math.ceil(context.ttl / 1000)),
            ...(request.principal && { key: request.principal.name }),
          },
        },
      ),
  });
};

/**
 * Request rate limits (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS) per API key, or per client
 * address when auth is off: 429 ERR_RATE_LIMITED with Retry-After beyond it; health routes are
 * exempt. Counted in Redis across producer replicas (RATE_LIMIT_STORE=redis, the default) or in
 * memory per replica. Installed on the app itself (not a child
 * context) so it limits every route registered after it.
 */
export const rateLimit: FastifyPluginAsync<RateLimitOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
});
