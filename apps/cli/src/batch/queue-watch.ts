import { ConveyorError, createRedisClient, type RedisTarget } from '@conveyor/shared';

/** How often the batch checks that Redis answers, and how long one check may take. */
export const QUEUE_CHECK_MS = 500;
/** Failed checks in a row after which Redis counts as gone. */
export const QUEUE_CHECKS_LOST = 3;

/**
 * Watches the Redis of a queued batch. The client's waits for jobs in flight do not notice that
 * Redis went away (their events simply stop), so without this a batch would hang until each wait
 * timed out and then write those rows to --failed, where a resume would skip them.
 */
export interface QueueWatch {
  /** Settles with ERR_QUEUE_UNAVAILABLE once Redis has not answered QUEUE_CHECKS_LOST checks in a row. */
  readonly lost: Promise<ConveyorError>;
  /** ERR_QUEUE_UNAVAILABLE when Redis does not answer now, else undefined. */
  check(): Promise<ConveyorError | undefined>;
  close(): void;
}

/** Watches the Redis of `target` (see configTarget: a server, a cluster or a Sentinel group). */
export function watchQueue(target: RedisTarget): QueueWatch {
  const redis = createRedisClient(target, {
    lazyConnect: true,
    // A check fails at once while the connection is down, rather than queueing for later.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: QUEUE_CHECK_MS,
    connectTimeout: QUEUE_CHECK_MS * 2,
    retryStrategy: () => QUEUE_CHECK_MS,
  });
  // Errors are counted by check(); the connection's own error events would only repeat them.
  redis.on('error', () => undefined);
  void redis.connect().catch(() => undefined);

  const check = async (): Promise<ConveyorError | undefined> => {
    try {
      await redis.ping();
      return undefined;
    } catch (cause) {
      return new ConveyorError(
        'ERR_QUEUE_UNAVAILABLE',
        `Redis stopped answering during the batch: ${cause instanceof Error ? cause.message : String(cause)}; run the same command again to resume`,
        { cause },
      );
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let misses = 0;
  let checking = false;
  const lost = new Promise<ConveyorError>((resolve) => {
    timer = setInterval(() => {
      if (checking) return;
      checking = true;
      void check().then((error) => {
        checking = false;
        misses = error === undefined ? 0 : misses + 1;
        if (error !== undefined && misses >= QUEUE_CHECKS_LOST) {
          clearInterval(timer);
          resolve(error);
        }
      });
    }, QUEUE_CHECK_MS);
    timer.unref();
  });

  return {
    lost,
    check,
    close() {
      clearInterval(timer);
      redis.disconnect();
    },
  };
}
