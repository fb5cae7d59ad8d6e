import type { Queue, Worker } from 'bullmq';
import type { QueueClient } from '@conveyor/sdk';
import { randomUUID } from 'node:crypto';
import {
  ConveyorError,
  configTopology,
  msFromRedisTime,
  queueName,
  queueOfJobId,
  type Config,
  type Logger,
  groupKey,
} from '@conveyor/shared';
import type { QueueRegistry } from '../queue-registry.js';
import type { JobOutcome } from '../jobs/jobs-schemas.js';
import { outcomeOf, readJob } from '../jobs/jobs-view.js';
import { assertCallbackAllowed, callbackPolicyOf } from './allow.js';
import { addDelivery, createCallbacksQueue, createDeliveryWorker } from './delivery.js';
import { createEventFeeder, type EventFeeder, type Finished } from './feeder.js';

/** How long a job's callback URL is kept while the job waits or runs: 7 days. */
export const REGISTRATION_TTL_S = 7 * 24 * 3600;

/**
 * Webhooks: a job submitted with a `callback_url` gets its outcome POSTed there, signed (Standard
 * Webhooks, every WEBHOOK_SECRET secret), once it
 * completes or fails, at least once, by whichever producer replica sees it finish first.
 *
 * - At submit, before the enqueue (the producer fixes the job's id first), the URL is stored under
 *   `<prefix>:{_webhooks}:url:<jobId>` and the job id in the sorted set
 *   `<prefix>:{_webhooks}:pending`, so no job exists without its callback, even if the producer
 *   stops between the two (see registerBefore). For a client's idempotency key the job's state is
 *   then read once, so a job that already existed and has finished is not missed; ids of the
 *   producer's own cannot exist yet and are stored in one round trip. A registration whose job
 *   never came is dropped by the sweep, or at once when the enqueue is refused (forget).
 * - Each model's BullMQ event stream is read by a consumer group (see feeder.ts); a `completed` or
 *   `failed` event of a registered job adds a delivery to the `callbacks` queue, with the predict
 *   job's id as its own, so duplicates collapse.
 * - A periodic sweep catches what the stream cannot give (events trimmed while every producer
 *   was down): pending registrations older than the sweep interval are read from the job itself.
 * - A BullMQ Worker in each producer sends the deliveries, with WEBHOOK_MAX_ATTEMPTS tries and
 *   exponential backoff. Deliveries are in Redis, so they survive a producer restart.
 */
export interface Webhooks {
  /** False when WEBHOOK_SECRET is unset: jobs with a callback_url are refused. */
  readonly enabled: boolean;
  /** The callbacks queue, for the dashboard. */
  readonly queue: Queue;
  /** Throws ERR_CALLBACK_NOT_ALLOWED when webhooks are off or the URL may not be called. */
  assertAllowed(url: string): Promise<void>;
  /**
   * Fixes the ids of jobs of `model` about to be enqueued with the callback `url`, and stores the
   * callback before they exist. Each job keeps its client's idempotency key or gets a key of ours;
   * enqueue them with the returned keys. A job of a client's key may exist already: if it has
   * ended, its outcome is delivered at once. `forget` removes the registrations of our own keys,
   * for an enqueue that was refused.
   */
  registerBefore(
    model: string,
    clientKeys: readonly (string | undefined)[],
    url: string,
    /** The version or alias the jobs ask for (their versions are chosen here, per job). */
    version?: string,
    /** Who the jobs belong to: the scope of their idempotency keys. */
    owner?: string,
  ): Promise<{ keys: string[]; forget: () => Promise<void> }>;
  /** Runs one sweep now (the timer runs it every sweepMs). */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

export interface WebhooksOptions {
  config: Config;
  queues: QueueRegistry;
  /** Lists the models whose event streams are read from the start; fixes job ids. */
  client: Pick<QueueClient, 'models' | 'jobIdFor' | 'job'>;
  logger: Logger;
  /** Interval of the sweep and of the model list refresh, in ms. Default 30 000. */
  sweepMs?: number;
  /** Passed to the feeder (tests shorten them). */
  blockMs?: number;
  claimIdleMs?: number;
}

export async function createWebhooks(options: WebhooksOptions): Promise<Webhooks> {
  const { config, queues, client } = options;
  const log = options.logger.child({ component: 'webhooks' });
  const { redis, prefix } = queues;
  const sweepMs = options.sweepMs ?? 30_000;
  const urlKey = (jobId: string) => groupKey(prefix, 'webhooks', 'url', jobId);
  const pendingKey = groupKey(prefix, 'webhooks', 'pending');
  const queue = createCallbacksQueue(redis, config);
  const secrets = config.WEBHOOK_SECRET;
  // Registrations are timed by the Redis server's clock: a replica whose clock runs ahead must not
  // sweep away the registration of a job another replica is about to enqueue.
  const redisNow = async () => msFromRedisTime(await redis.time());

  const settle = async (jobId: string, outcome: JobOutcome) => {
    const url = await redis.get(urlKey(jobId));
    if (url === null) return;
    await addDelivery(queue, config, url, outcome);
    await redis.multi().del(urlKey(jobId)).zrem(pendingKey, jobId).exec();
    log.debug({ jobId, status: outcome.status }, 'webhook queued');
  };

  const onFinished = async (finished: Finished) => {
    if (!(await redis.exists(urlKey(finished.jobId)))) return;
    // The outcome is read through the SDK's job handle: large outputs are not in the event.
    const record = await readJob(client, finished.jobId);
    const outcome = record && outcomeOf(record);
    if (outcome) await settle(finished.jobId, outcome);
    else log.warn({ jobId: finished.jobId }, 'finished job was trimmed before its webhook');
  };

  let feeder: EventFeeder | undefined;
  let worker: Worker | undefined;
  let timer: NodeJS.Timeout | undefined;

  const sweep = async () => {
    if (!feeder) return;
    try {
      for (const m of await client.models()) await feeder.watch(queueName(m.name, m.version));
    } catch (err) {
      log.warn({ err }, 'model list for webhooks failed');
    }
    await feeder.reclaim();
    const due = await redis.zrangebyscore(
      pendingKey,
      '-inf',
      (await redisNow()) - sweepMs,
      'LIMIT',
      0,
      500,
    );
    for (const jobId of due) {
      try {
        const record = await readJob(client, jobId);
        if (!record) {
          // Cancelled, or trimmed before anyone saw it finish: nothing to deliver.
          await redis.multi().del(urlKey(jobId)).zrem(pendingKey, jobId).exec();
          continue;
        }
        const outcome = outcomeOf(record);
        if (outcome) await settle(jobId, outcome);
      } catch (err) {
        log.warn({ err, jobId }, 'webhook sweep failed for a job');
      }
    }
  };

  if (secrets !== undefined) {
    feeder = createEventFeeder({
      redisUrl: config.REDIS_URL,
      topology: configTopology(config),
      prefix,
      redis,
      logger: log,
      onFinished,
      ...(options.blockMs !== undefined && { blockMs: options.blockMs }),
      ...(options.claimIdleMs !== undefined && { claimIdleMs: options.claimIdleMs }),
    });
    worker = createDeliveryWorker(config, secrets, log);
    await sweep();
    const tick = () => {
      timer = setTimeout(() => {
        sweep()
          .catch((err: unknown) => log.warn({ err }, 'webhook sweep failed'))
          .finally(() => {
            if (timer) tick();
          });
      }, sweepMs);
      timer.unref();
    };
    tick();
  }

  const assertAllowed = async (url: string) => {
    if (secrets === undefined) {
      throw new ConveyorError(
        'ERR_CALLBACK_NOT_ALLOWED',
        'webhooks are off on this producer (WEBHOOK_SECRET is not set), so callback_url cannot be used',
      );
    }
    await assertCallbackAllowed(url, callbackPolicyOf(config));
  };

  return {
    enabled: secrets !== undefined,
    queue,
    assertAllowed,
    async registerBefore(model, clientKeys, url, version, owner) {
      await assertAllowed(url);
      const keys = clientKeys.map((key) => key ?? randomUUID());
      // The version of each job is chosen now (for a client's key: the one its first job got).
      const ids = await Promise.all(
        keys.map((key) =>
          client.jobIdFor(model, {
            idempotencyKey: key,
            ...(version !== undefined && { version }),
            ...(owner !== undefined && { owner }),
          }),
        ),
      );
      const ours = ids.filter((_, i) => clientKeys[i] === undefined);
      const now = await redisNow();
      const multi = redis.multi();
      for (const jobId of ids)
        multi.set(urlKey(jobId), url, 'EX', REGISTRATION_TTL_S).zadd(pendingKey, now, jobId);
      await multi.exec();
      for (const queue of new Set(ids.map(queueOfJobId))) await feeder?.watch(queue);
      for (const [i, jobId] of ids.entries()) {
        if (clientKeys[i] === undefined) continue;
        const record = await readJob(client, jobId);
        const outcome = record && outcomeOf(record);
        if (outcome) await settle(jobId, outcome);
      }
      const forget = async () => {
        if (ours.length === 0) return;
        // A registration left behind is dropped by the sweep; this only saves it the work.
        await redis
          .multi()
          .del(...ours.map(urlKey))
          .zrem(pendingKey, ...ours)
          .exec()
          .catch((err: unknown) => log.warn({ err }, 'could not forget webhook registrations'));
      };
      return { keys, forget };
    },
    sweep,
    async close() {
      clearTimeout(timer);
      timer = undefined;
      await feeder?.close();
      await worker?.close();
      await queue.close();
    },
  };
}
