import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  ConveyorError,
  ModelNameSchema,
  isConveyorError,
  parseOrThrow,
  queueName,
  redisOptions,
  throttledErrorLog,
  type Logger,
} from '@conveyor/shared';

export interface QueueDepthOptions {
  redisUrl: string;
  /** Key prefix of the queues (REDIS_KEY_PREFIX). */
  prefix: string;
  logger: Logger;
}

/** Reads the depth of model queues from Redis; owns one connection. */
export interface QueueDepth {
  /** Jobs of a model's queue no worker has started: waiting (paused too), prioritized and delayed. */
  depth(model: string): Promise<number>;
  close(): Promise<void>;
}

/** Queue handles kept at most; the least recently used one is closed past this. */
const MAX_QUEUES = 256;

/**
 * Depth reads through BullMQ's own counters (`getJobCounts`), on a connection opened on first use,
 * so an app that never takes work never connects. Errors are ERR_QUEUE_UNAVAILABLE.
 */
export function createQueueDepth(options: QueueDepthOptions): QueueDepth {
  const redis = new Redis(options.redisUrl, {
    ...redisOptions('producer', 'conveyor-producer-depth'),
    lazyConnect: true,
  });
  redis.on('error', throttledErrorLog(options.logger, 'redis depth connection error'));
  const queues = new Map<string, Queue>();
  let connecting: Promise<void> | undefined;

  // Producer connections refuse commands while disconnected, so connect before the first one.
  const connected = (): Promise<void> => {
    if (redis.status !== 'wait') return Promise.resolve();
    connecting ??= redis.connect().finally(() => (connecting = undefined));
    return connecting;
  };

  const queueFor = (model: string): Queue => {
    let queue = queues.get(model);
    if (queue) {
      queues.delete(model);
    } else {
      // Read-only: without skipMetasUpdate a Queue writes its own (default) event-stream cap
      // into the queue's metadata, undoing EVENTS_MAX_LEN.
      queue = new Queue(queueName(model), {
        connection: redis,
        prefix: options.prefix,
        skipMetasUpdate: true,
      });
      queue.on('error', (err: Error) => options.logger.warn({ err, model }, 'queue error'));
    }
    queues.set(model, queue);
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
        const counts = await queueFor(model).getJobCounts('waiting', 'prioritized', 'delayed');
        return Object.values(counts).reduce((sum, count) => sum + count, 0);
      } catch (error) {
        if (isConveyorError(error)) throw error;
        const message = error instanceof Error ? error.message : String(error);
        throw new ConveyorError('ERR_QUEUE_UNAVAILABLE', `Redis did not answer: ${message}`, {
          cause: error,
        });
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
