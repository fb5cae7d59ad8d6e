import fastifyRateLimit, {
  type FastifyRateLimitStore,
  type FastifyRateLimitStoreCtor,
} from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import {
  ConveyorError,
  PRODUCER_COMMAND_TIMEOUT_MS,
  redisAddress,
  redisOptions,
  redisUnavailable,
  redisWithin,
  throttledErrorLog,
  type Config,
  type Logger,
} from '@conveyor/shared';

export interface RateLimitOptions {
  config: Pick<
    Config,
    | 'RATE_LIMIT_MAX'
    | 'RATE_LIMIT_WINDOW_MS'
    | 'RATE_LIMIT_STORE'
    | 'REDIS_URL'
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

/**
 * One count: INCR, with the window's expiry set by the first request of a window; replies
 * `[count, ms left in the window]`. The keys and values are those of @fastify/rate-limit's own
 * Redis store, so replicas of an older producer share the counts.
 */
const COUNT_SCRIPT = `local current = redis.call('INCR', KEYS[1])
if current == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {current, tonumber(ARGV[1])}
end
return {current, redis.call('PTTL', KEYS[1])}`;

type CountingRedis = Redis & {
  conveyorRateCount(key: string, windowMs: number): Promise<[number, number]>;
};

/**
 * Counts in Redis without letting Redis hold a request: a count waits at most the connection's
 * command timeout (COUNT_TIMEOUT_MS), and after a failure counts are skipped for
 * PAUSE_AFTER_FAILURE_MS, so a frozen Redis costs one short wait per pause instead of one per
 * request. A failed or skipped count lets the request pass (skipOnError).
 */
function redisCountStore(
  redis: Redis,
  nameSpace: string,
  windowMs: number,
  onFailure: (error: Error) => void,
): FastifyRateLimitStoreCtor {
  redis.defineCommand('conveyorRateCount', { numberOfKeys: 1, lua: COUNT_SCRIPT });
  const counting = redis as CountingRedis;
  let pausedUntil = 0;
  class RedisCountStore implements FastifyRateLimitStore {
    // The plugin constructs the store with its options, which this store does not need.
    constructor(
      _options?: unknown,
      private readonly keyPrefix = nameSpace,
    ) {}

    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow?: number,
    ): void {
      if (Date.now() < pausedUntil) {
        callback(new Error('rate limit counts are paused after a Redis failure'));
        return;
      }
      counting.conveyorRateCount(this.keyPrefix + key, timeWindow ?? windowMs).then(
        ([current, ttl]) => callback(null, { current, ttl }),
        (error: Error) => {
          pausedUntil = Date.now() + PAUSE_AFTER_FAILURE_MS;
          onFailure(error);
          callback(error);
        },
      );
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
  return RedisCountStore;
}

const plugin: FastifyPluginAsync<RateLimitOptions> = async (app, { config, logger }) => {
  if (config.RATE_LIMIT_MAX === 0) return;
  // Shared counts: every replica increments the same key, so a key's limit holds however many
  // producers serve it. A connection of its own, failing fast; while Redis is away or does not
  // answer, requests pass (skipOnError), as the routes that need Redis answer 503 themselves.
  let store: FastifyRateLimitStoreCtor | undefined;
  if (config.RATE_LIMIT_STORE === 'redis') {
    const redis = new Redis(config.REDIS_URL, {
      ...redisOptions('producer', 'conveyor-producer-rate-limit', {
        commandTimeoutMs: COUNT_TIMEOUT_MS,
      }),
      lazyConnect: true,
    });
    redis.on('error', throttledErrorLog(logger, 'rate limit redis connection error'));
    const address = redisAddress(config.REDIS_URL);
    const failed = throttledErrorLog(logger, 'rate limit count failed; requests pass uncounted');
    store = redisCountStore(
      redis,
      `${config.REDIS_KEY_PREFIX}:rate-limit:`,
      config.RATE_LIMIT_WINDOW_MS,
      (error) => failed(redisUnavailable(address, error, COUNT_TIMEOUT_MS)),
    );
    // Ready before the first request (this connection does not queue commands while it connects);
    // if Redis is down or frozen now, it keeps reconnecting and requests pass meanwhile.
    await redisWithin(redis.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS).catch(() => undefined);
    app.addHook('onClose', async () => {
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
    allowList: (request) => isExempt(request),
    errorResponseBuilder: (request, context) =>
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
