import { Queue } from 'bullmq';
import {
  ModelNameSchema,
  PRODUCER_COMMAND_TIMEOUT_MS,
  catalogueKey,
  parseOrThrow,
  queueName,
  redisOptions,
  redisUnavailable,
  redisWithin,
  throttledErrorLog,
  type Logger,
  queuePrefix,
  createRedisClient,
  redisTarget,
  targetAddress,
  type RedisTopology,
} from '@conveyor/shared';

export interface QueueDepthOptions {
  redisUrl: string;
  /** A cluster's seed nodes or a Sentinel group (configTopology); `redisUrl` then gives credentials. */
  topology?: RedisTopology | undefined;
  /** Key prefix of the queues (REDIS_KEY_PREFIX). */
  prefix: string;
  logger: Logger;
}

/** Reads the depth of model queues from Redis; owns one connection. */
export interface QueueDepth {
  /**
   * Jobs of a model no worker has started, over the queues of every version in the catalogue:
   * waiting (paused too), prioritized and delayed.
   */
  depth(model: string): Promise<number>;
  close(): Promise<void>;
}

/** Queue handles kept at most; the least recently used one is closed past this. */
const MAX_QUEUES = 256;

/**
 * Depth reads through BullMQ's own counters (`getJobCounts`), on a connection opened on first use,
 * so an app that never takes work never connects. Errors are ERR_QUEUE_UNAVAILABLE, within
 * PRODUCER_COMMAND_TIMEOUT_MS per command (2× that for the first connection) when Redis is frozen.
 */
export function createQueueDepth(options: QueueDepthOptions): QueueDepth {
  const target = redisTarget(options.redisUrl, options.topology);
  const redis = createRedisClient(target, {
    ...redisOptions('producer', 'conveyor-producer-depth'),
    lazyConnect: true,
  });
  redis.on('error', throttledErrorLog(options.logger, 'redis depth connection error'));
  const address = targetAddress(target);
  const queues = new Map<string, Queue>();
  let connecting: Promise<void> | undefined;

  // Producer connections refuse commands while disconnected, so connect before the first one.
  // Callers that arrive while the first connect is under way wait for the same one.
  const connected = (): Promise<void> => {
    if (connecting) return connecting;
    if (redis.status !== 'wait') return Promise.resolve();
    // A connection's handshake is a few commands. After a failed first attempt ioredis goes on
    // reconnecting by itself; the calls meanwhile fail at once (no offline queue).
    connecting = redisWithin(redis.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS).finally(
      () => (connecting = undefined),
    );
    return connecting;
  };

  const queueFor = (name: string): Queue => {
    let queue = queues.get(name);
    if (queue) {
      queues.delete(name);
    } else {
      // Read-only: without skipMetasUpdate a Queue writes its own (default) event-stream cap
      // into the queue's metadata, undoing EVENTS_MAX_LEN.
      queue = new Queue(name, {
        connection: redis,
        prefix: queuePrefix(options.prefix, name),
        skipMetasUpdate: true,
      });
      queue.on('error', (err: Error) => options.logger.warn({ err, queue: name }, 'queue error'));
    }
    queues.set(name, queue);
    if (queues.size > MAX_QUEUES) {
      const [oldest, old] = queues.entries().next().value as [string, Queue];
      queues.delete(oldest);
      void old.close().catch(() => undefined);
    }
    return queue;
  };

  return {
    async depth(model) {
      parseOrThrow(ModelNameSchema, model, 'model name');
      try {
        await connected();
        // Catalogue fields are `<model>@<version>@<worker>`: the versions anyone announced.
        const fields = await redis.hkeys(catalogueKey(options.prefix));
        const versions = new Set(
          fields.filter((f) => f.startsWith(`${model}@`)).map((f) => f.split('@')[1] ?? ''),
        );
        // The versions' counts are sent together (one round trip), not one after another.
        const counts = await Promise.all(
          [...versions]
            .filter((version) => /^[1-9][0-9]{0,8}$/.test(version))
            .map((version) =>
              queueFor(queueName(model, version)).getJobCountByTypes(
                'waiting',
                'prioritized',
                'delayed',
              ),
            ),
        );
        return counts.reduce((sum, count) => sum + count, 0);
      } catch (error) {
        throw redisUnavailable(address, error);
      }
    },
    async close() {
      await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
      queues.clear();
      if (redis.status === 'wait' || redis.status === 'end') redis.disconnect();
      else await redis.quit().catch(() => redis.disconnect());
    },
  };
}
