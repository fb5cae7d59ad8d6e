import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import {
  encodeTensor,
  newJobId,
  queueName,
  toTensor,
  queuePrefix,
  queueKey,
} from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const JOBS = 600;

/** Redis memory stays bounded however many jobs pass: finished jobs and events are trimmed. */
describe('retention of finished jobs and events', () => {
  let worker: WorkerProcess;
  let client: QueueClient;
  let queue: Queue;
  let redis: Redis;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix, {
      MODELS: 'iris',
      KEEP_COMPLETED_JOBS: '40',
      EVENTS_MAX_LEN: '100',
    });
    client = await createClient({
      redisUrl,
      prefix,
      keepCompleted: { count: 50, ageSeconds: 3600 },
      eventsMaxLen: 100,
    });
    // A Queue writes its own event-stream cap into the queue's metadata unless told not to.
    queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
      skipMetasUpdate: true,
    });
    redis = new Redis(redisUrl);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await queue?.close();
    redis?.disconnect();
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('keeps at most the configured number of completed jobs, and a bounded event stream', async () => {
    const handles = await client.enqueueMany(
      'iris',
      Array.from({ length: JOBS }, (_, i) => ({ inputs: { features: [[5, 3, 1 + (i % 5), 1]] } })),
    );
    // The last jobs are still there to be read; the early ones were trimmed.
    await Promise.all(handles.slice(-20).map((h) => h.result()));
    await expect
      .poll(() => queue.getJobCounts('active', 'waiting'))
      .toEqual({ active: 0, waiting: 0 });
    expect((await queue.getJobCounts('completed')).completed).toBeLessThanOrEqual(50);
    // Gone from Redis (the handle itself may still give the end its client saw).
    expect(await client.job(handles[0]!.id).read()).toBeUndefined();
    // Trimming is approximate (whole stream nodes), but nowhere near the ~4 events per job written.
    const events = await redis.xlen(queueKey(prefix, queueName('iris', '1'), 'events'));
    expect(events).toBeLessThan(JOBS);
  });

  it('applies the worker’s own retention to jobs whose producer set none', async () => {
    const before = (await queue.getJobCounts('completed')).completed ?? 0;
    const jobs = await queue.addBulk(
      Array.from({ length: 100 }, () => ({
        name: 'predict',
        data: {
          v: 1,
          model: 'iris',
          inputs: { features: encodeTensor(toTensor('features', [[5, 3, 1, 1]])) },
        },
        opts: { jobId: newJobId('iris', '1') },
      })),
    );
    expect(before).toBeGreaterThan(0);
    await expect
      .poll(async () => (await queue.getJobCounts('waiting', 'active')).waiting, {
        timeout: 30_000,
      })
      .toBe(0);
    await expect
      .poll(async () => (await queue.getJobState(jobs.at(-1)!.id!)) === 'completed', {
        timeout: 30_000,
      })
      .toBe(true);
    expect((await queue.getJobCounts('completed')).completed).toBeLessThanOrEqual(40);
  });
});
