import { Queue } from 'bullmq';
import {
  PRODUCER_COMMAND_TIMEOUT_MS,
  redisOptions,
  redisUnavailable,
  redisWithin,
  throttledErrorLog,
  type Config,
  type ConveyorError,
  type Logger,
  queuePrefix,
  createRedisClient,
  configTarget,
  targetAddress,
  type RedisClient,
  type RedisConfig,
} from '@conveyor/shared';

/**
 * The producer's own connection for its own keys (batches, webhook registrations, deliveries) and
 * the model version queues bull-board shows, which need BullMQ Queue objects. Jobs, results and
 * events are read and written by the SDK client, never here.
 */
export interface QueueRegistry {
  /** The connection every queue here shares; also used for the producer's own keys. */
  readonly redis: RedisClient;
  /** Prefix of every Redis key (REDIS_KEY_PREFIX). */
  readonly prefix: string;
  /**
   * ERR_QUEUE_UNAVAILABLE for an error of a call on this connection, naming the Redis (host and
   * port) and what to check.
   */
  unavailable(error: unknown): ConveyorError;
  /** A model version's queue by its name (`queueName`, `queueOfJobId`), opened on first use. */
  predict(queue: string): Queue;
  /** Every model version queue opened so far. */
  predictQueues(): Queue[];
  /** Closes the queues and the connection. */
  close(): Promise<void>;
}

/**
 * Connects (rejects with ERR_QUEUE_UNAVAILABLE when Redis does not answer within
 * 2 × PRODUCER_COMMAND_TIMEOUT_MS) and returns an empty registry. Every command on the connection
 * fails after PRODUCER_COMMAND_TIMEOUT_MS, so a frozen Redis cannot hold a request.
 */
export async function createQueueRegistry(
  config: Pick<Config, keyof RedisConfig | 'REDIS_KEY_PREFIX' | 'EVENTS_MAX_LEN'>,
  log: Logger,
): Promise<QueueRegistry> {
  const redis = createRedisClient(configTarget(config), {
    ...redisOptions('producer', 'conveyor-producer-queues'),
    lazyConnect: true,
  });
  redis.on('error', throttledErrorLog(log, 'redis connection error'));
  const address = targetAddress(configTarget(config));
  const unavailable = (error: unknown) => redisUnavailable(address, error);
  try {
    // A connection's handshake is a few commands; on a frozen Redis ioredis would retry it.
    await redisWithin(redis.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS);
  } catch (error) {
    redis.disconnect();
    throw unavailable(error);
  }
  const queues = new Map<string, Queue>();
  return {
    redis,
    prefix: config.REDIS_KEY_PREFIX,
    unavailable,
    predict(name) {
      let queue = queues.get(name);
      if (!queue) {
        queue = new Queue(name, {
          connection: redis,
          prefix: queuePrefix(config.REDIS_KEY_PREFIX, name),
          streams: { events: { maxLen: config.EVENTS_MAX_LEN } },
        });
        queue.on('error', (err: Error) => log.warn({ err, queue: name }, 'queue error'));
        queues.set(name, queue);
      }
      return queue;
    },
    predictQueues: () => [...queues.values()],
    async close() {
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
