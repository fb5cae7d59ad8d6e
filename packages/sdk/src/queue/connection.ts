import {
  DEV_STATE_FILE,
  batchWritesPerTurn,
  createRedisClient,
  targetAddress,
  type RedisClient,
  PRODUCER_COMMAND_TIMEOUT_MS,
  parseOrThrow,
  redactUrl,
  redisOptions,
  redisUnavailable,
  redisWithin,
  silentLogger,
  throttledErrorLog,
  type ConveyorError,
  type Logger,
} from '@conveyor/shared';
import {
  ClientOptionsSchema,
  redisConnectionOptions,
  withDevState,
  type ClientOptions,
  type ResolvedClientOptions,
} from '../options.js';

/** A queue client's options, logger and command connection, and how it opens the others. */
export interface Connection {
  config: ResolvedClientOptions;
  log: Logger;
  /** Ordinary commands; each fails after PRODUCER_COMMAND_TIMEOUT_MS. */
  redis: RedisClient;
  /** Opens a connection for blocking reads (no command timeout), named for CLIENT LIST. */
  openBlocking: (name: string) => RedisClient;
  /**
   * What anything Redis or BullMQ throws that is not ours means: Redis did not answer. The error
   * names this client's Redis and says what to check, never the password or the library's wording.
   */
  unavailable: (error: unknown) => ConveyorError;
  rejectUnavailable: (error: unknown) => Promise<never>;
}

/**
 * Validates a client's options and connects to Redis. Rejects with ERR_QUEUE_UNAVAILABLE when
 * Redis cannot be reached, ERR_VALIDATION for bad options.
 */
export async function openConnection(options: ClientOptions): Promise<Connection> {
  const dev = withDevState(options);
  const config = parseOrThrow(ClientOptionsSchema, dev.options, 'client options');
  // An injected logger keeps its own bindings (a producer's says component: producer).
  const log = config.logger ?? silentLogger();
  if (dev.devState)
    log.info(
      { redis: redactUrl(dev.devState.redisUrl), prefix: config.prefix, devPid: dev.devState.pid },
      `using the Redis of the conveyor dev running here (${DEV_STATE_FILE})`,
    );
  const connection = redisConnectionOptions(config);
  const address = targetAddress(connection);
  const unavailable = (error: unknown): ConveyorError => redisUnavailable(address, error);
  // Commands on this connection fail after PRODUCER_COMMAND_TIMEOUT_MS: a frozen Redis keeps its
  // socket open and would hold every call for ever. Blocking readers have no such limit.
  const redis = createRedisClient(connection, {
    ...redisOptions('producer', `conveyor-sdk.${config.prefix}`),
    lazyConnect: true,
  });
  redis.on('error', throttledErrorLog(log, 'redis connection error'));
  // Jobs accepted from many requests in one turn reach Redis in one write.
  batchWritesPerTurn(redis);
  try {
    // A connection's handshake is a few commands; on a frozen Redis ioredis would retry it.
    await redisWithin(redis.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS);
  } catch (error) {
    redis.disconnect();
    throw unavailable(error);
  }
  return {
    config,
    log,
    redis,
    openBlocking(name) {
      const blocking = createRedisClient(
        connection,
        redisOptions('worker', `${name}.${config.prefix}`),
      );
      blocking.on('error', throttledErrorLog(log, `redis ${name} connection error`));
      return blocking;
    },
    unavailable,
    rejectUnavailable: (error) => Promise.reject(unavailable(error)),
  };
}
