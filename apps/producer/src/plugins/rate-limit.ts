import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import {
  ConveyorError,
  redisOptions,
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

const plugin: FastifyPluginAsync<RateLimitOptions> = async (app, { config, logger }) => {
  if (config.RATE_LIMIT_MAX === 0) return;
  // Shared counts: every replica increments the same key, so a key's limit holds however many
  // producers serve it. A connection of its own, failing fast; while Redis is away requests pass
  // (skipOnError), as the routes that need Redis answer 503 themselves.
  let redis: Redis | undefined;
  if (config.RATE_LIMIT_STORE === 'redis') {
    redis = new Redis(config.REDIS_URL, {
      ...redisOptions('producer', 'conveyor-producer-rate-limit'),
      lazyConnect: true,
    });
    redis.on('error', throttledErrorLog(logger, 'rate limit redis connection error'));
    // Ready before the first request (this connection does not queue commands while it connects);
    // if Redis is down now, it keeps reconnecting and requests pass meanwhile.
    await redis.connect().catch(() => undefined);
    const connection = redis;
    app.addHook('onClose', async () => {
      await connection.quit().catch(() => connection.disconnect());
    });
  }
  await app.register(fastifyRateLimit, {
    global: true,
    ...(redis && {
      redis,
      nameSpace: `${config.REDIS_KEY_PREFIX}:rate-limit:`,
      skipOnError: true,
    }),
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
