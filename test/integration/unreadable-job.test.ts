import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import { newJobId, queueName, queuePrefix, queueKey } from '@conveyor/shared';
import { readJob, statusBody } from '../../apps/producer/src/jobs/jobs-view.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';

/**
 * Job data that is not JSON, written into Redis around the SDK. BullMQ parses job data after it
 * has locked the job, so a worker that chokes on it leaves the job active under a lock nobody
 * renews: the stalled-job check then hands it out again every lock period, for ever. It must fail
 * once, with ERR_PAYLOAD_INVALID, and its status must say so.
 */
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const queue = queueName('iris', '1');
const key = (suffix: string) => queueKey(prefix, queue, suffix);
/** Short, so that a job left locked would come back several times within the test. */
const LOCK_MS = 1000;
const STALLED_INTERVAL_MS = 500;

describe('a job whose data is not JSON', () => {
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: QueueClient;
  let redis: Redis;
  let bull: Queue;

  beforeAll(async () => {
    worker = await startInProcessWorker(redisUrl, prefix, {
      JOB_LOCK_MS: String(LOCK_MS),
      STALLED_INTERVAL_MS: String(STALLED_INTERVAL_MS),
    });
    client = await createClient({ redisUrl, prefix });
    redis = new Redis(redisUrl);
    bull = new Queue(queue, { connection: { url: redisUrl }, prefix: queuePrefix(prefix, queue) });
  }, 60_000);

  afterAll(async () => {
    await bull?.close();
    redis?.disconnect();
    await client?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  /** How often the queue's event stream saw the job go active and fail. */
  async function eventsOf(jobId: string): Promise<{ active: number; failed: number }> {
    const counts = { active: 0, failed: 0 };
    for (const [, fields] of await redis.xrange(key('events'), '-', '+')) {
      const record: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i] ?? ''] = fields[i + 1] ?? '';
      if (record.jobId !== jobId) continue;
      if (record.event === 'active') counts.active += 1;
      if (record.event === 'failed') counts.failed += 1;
    }
    return counts;
  }

  /** Waits for the job to fail, then through several lock periods, and checks it failed once. */
  async function expectFailedOnce(jobId: string): Promise<void> {
    const handle = client.job(jobId);
    await expect(handle.result({ timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'ERR_PAYLOAD_INVALID',
    });
    // A job left locked would be taken back and handed out again meanwhile.
    await sleep(LOCK_MS * 3 + STALLED_INTERVAL_MS);
    expect(await handle.status()).toMatchObject({
      id: jobId,
      state: 'failed',
      attemptsMade: 1,
      error: { code: 'ERR_PAYLOAD_INVALID' },
    });
    expect(await redis.hget(key(jobId), 'ats')).toBe('1');
    expect(await eventsOf(jobId)).toEqual({ active: 1, failed: 1 });
    const logged = worker.records.filter((r) => r.msg === 'job failed' && r.jobId === jobId);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ code: 'ERR_PAYLOAD_INVALID', model: 'iris', version: '1' });
  }

  it('written with HSET and pushed on the wait list, fails once with ERR_PAYLOAD_INVALID', async () => {
    const jobId = newJobId('iris', '1');
    await redis.hset(key(jobId), {
      name: 'predict',
      data: '{not json',
      opts: '{}',
      timestamp: String(Date.now()),
    });
    await redis.lpush(key('wait'), jobId);
    // Wakes a worker blocked on the queue, as BullMQ's own addJob does.
    await redis.zadd(key('marker'), 0, '0');
    await expectFailedOnce(jobId);
  });

  it('added through BullMQ and overwritten before a worker took it, fails once too', async () => {
    const jobId = newJobId('iris', '1');
    // Delayed, so that its data can be replaced before any worker sees it.
    await bull.add('predict', {}, { jobId, delay: 500 });
    await redis.hset(key(jobId), 'data', '{not json');
    await expectFailedOnce(jobId);
  });

  it('is reported failed by the producer too (GET /v1/jobs/{id}), not as Redis unavailable', async () => {
    const jobId = newJobId('iris', '1');
    await bull.add('predict', {}, { jobId, delay: 500 });
    await redis.hset(key(jobId), 'data', '{not json');
    await expect(client.job(jobId).result({ timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'ERR_PAYLOAD_INVALID',
    });
    const record = await readJob(client, jobId);
    expect(record && statusBody(record)).toMatchObject({
      job_id: jobId,
      state: 'failed',
      error: { code: 'ERR_PAYLOAD_INVALID' },
    });
  });

  it('keeps serving good jobs', async () => {
    const { outputs } = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
    expect(outputs.probabilities?.shape).toEqual([1, 3]);
    expect(worker.redisHealthy()).toBe(true);
  });
});
