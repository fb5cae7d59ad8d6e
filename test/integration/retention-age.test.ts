/**
 * Retention by age, not only by count: the options a queued job carries are the client's
 * `keepCompleted` / `keepFailed` in BullMQ's units (age in seconds), and a finished job past its
 * age is trimmed, by both clients. The count bound is covered by retention.test.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient, type JobHandle } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { queueName, queuePrefix } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { MODELS, spawnWorker, type WorkerProcess } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const GOOD = { features: [[5.1, 3.5, 1.4, 0.2]] };
/** Counts far above what the test writes, so only the age can trim. */
const KEEP_COMPLETED = { count: 500, ageSeconds: 1 };
const KEEP_FAILED = { count: 400, ageSeconds: 1 };

/** Waits until each job finished more than its one-second age ago. */
async function outlive(...handles: JobHandle[]): Promise<void> {
  const finished = await Promise.all(handles.map(async (h) => (await h.status()).finishedAt));
  for (const at of finished) expect(at).toEqual(expect.any(Number));
  await sleep(Math.max(0, Math.max(...(finished as number[])) + 1_300 - Date.now()));
}

/** What a client reports of a job it no longer holds. */
const GONE = { state: 'unknown', attemptsMade: 0 };

/** A completed job and a failed one (its deadline passed before it ran). */
async function finishOneOfEach(client: ConveyorClient): Promise<[JobHandle, JobHandle]> {
  const done = await client.enqueue('iris', GOOD);
  await done.result();
  const failed = await client.enqueue('iris', GOOD, { deadline: Date.now() - 1_000 });
  await expect(failed.result()).rejects.toMatchObject({ code: 'ERR_DEADLINE_EXCEEDED' });
  return [done, failed];
}

describe('retention by age with the queue client', () => {
  const prefix = uniquePrefix();
  let worker: WorkerProcess;
  let client: ConveyorClient;
  let queue: Queue;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix, { MODELS: 'iris' });
    client = await createClient({
      redisUrl,
      prefix,
      keepCompleted: KEEP_COMPLETED,
      keepFailed: { ...KEEP_FAILED, ageSeconds: 7 },
    });
    queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await queue?.close();
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('gives each job removeOnComplete / removeOnFail with the age in seconds', async () => {
    const handle = await client.enqueue('iris', GOOD);
    const job = await Job.fromId(queue, handle.id);
    expect(job?.opts.removeOnComplete).toEqual({ count: 500, age: 1 });
    expect(job?.opts.removeOnFail).toEqual({ count: 400, age: 7 });
    await handle.result();
  });

  it('trims a completed job once it is older than its age, when the next one completes', async () => {
    const old = await client.enqueue('iris', GOOD);
    await old.result();
    expect(await queue.getJob(old.id)).toBeDefined();
    await outlive(old);
    const next = await client.enqueue('iris', GOOD);
    await next.result();
    expect(await queue.getJob(old.id)).toBeUndefined();
    expect(await old.status()).toMatchObject(GONE);
    expect((await next.status()).state).toBe('completed');
  });
});

describe('retention by age of failed jobs with the queue client', () => {
  const prefix = uniquePrefix();
  let worker: WorkerProcess;
  let client: ConveyorClient;
  let queue: Queue;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix, { MODELS: 'iris' });
    client = await createClient({
      redisUrl,
      prefix,
      keepCompleted: { ...KEEP_COMPLETED, ageSeconds: 3600 },
      keepFailed: KEEP_FAILED,
    });
    queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await queue?.close();
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('trims a failed job past its age when the next one fails, and keeps completed ones', async () => {
    const [done, failed] = await finishOneOfEach(client);
    expect(await queue.getJob(failed.id)).toBeDefined();
    await outlive(failed);
    const [, next] = await finishOneOfEach(client);
    expect(await queue.getJob(failed.id)).toBeUndefined();
    expect(await failed.status()).toMatchObject(GONE);
    expect((await next.status()).state).toBe('failed');
    // Completed jobs keep their own (hour-long) age.
    expect((await done.status()).state).toBe('completed');
  });
});

describe('retention by age with the embedded client', () => {
  let client: ConveyorClient;

  beforeAll(async () => {
    client = await createEmbeddedClient({
      repository: MODELS,
      models: ['iris'],
      keepCompleted: KEEP_COMPLETED,
      keepFailed: KEEP_FAILED,
    });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
  });

  it('forgets completed and failed jobs once they are older than their age', async () => {
    const [done, failed] = await finishOneOfEach(client);
    expect((await done.status()).state).toBe('completed');
    expect((await failed.status()).state).toBe('failed');
    await outlive(done, failed);
    expect(await done.status()).toMatchObject(GONE);
    expect(await failed.status()).toMatchObject(GONE);
  });
});
