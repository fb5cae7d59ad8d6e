import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient, type JobHandle } from '@conveyor/sdk';
import { queueName, queuePrefix } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { spawnWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const JOBS = 300;

describe('SIGTERM during a stream of jobs', () => {
  let client: ConveyorClient;
  let queue: Queue;

  beforeAll(async () => {
    client = await createClient({ redisUrl, prefix });
    queue = new Queue(queueName('text-direction', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('text-direction', '1')),
    });
  });

  afterAll(async () => {
    await queue?.close();
    await client?.close();
    await dropPrefix(redisUrl, prefix);
  });

  it('finishes the jobs in flight, exits 0, and leaves every other job for the next worker', async () => {
    const first = await spawnWorker(redisUrl, prefix, {
      WORKER_CONCURRENCY: '4',
      LOG_LEVEL: 'info',
    });
    const input = {
      x: { data: new Float32Array(3 * 48 * 192).fill(0.25), shape: [1, 3, 48, 192] },
    };
    const handles: JobHandle[] = [];
    for (let i = 0; i < JOBS; i++) handles.push(await client.enqueue('text-direction', input));

    // Stop while the worker is busy: some jobs done, some in flight, most waiting.
    while (((await queue.getJobCounts('completed')).completed ?? 0) < 5)
      await new Promise((r) => setTimeout(r, 10));
    const code = await first.stop('SIGTERM');
    expect(code).toBe(0);
    expect(first.logs.map((r) => r.msg)).toContain('worker stopped');

    // Nothing was left half-done: no job is active or failed, and the rest still wait.
    const afterStop = await queue.getJobCounts('active', 'failed', 'completed', 'waiting');
    expect(afterStop.active).toBe(0);
    expect(afterStop.failed).toBe(0);
    expect((afterStop.completed ?? 0) + (afterStop.waiting ?? 0)).toBe(JOBS);

    const second = await spawnWorker(redisUrl, prefix);
    try {
      const results = await Promise.all(handles.map((h) => h.result({ timeoutMs: 60_000 })));
      expect(new Set(results.map((r) => r.jobId)).size).toBe(JOBS);
      const counts = await queue.getJobCounts(
        'completed',
        'failed',
        'active',
        'waiting',
        'delayed',
      );
      expect(counts).toEqual({ completed: JOBS, failed: 0, active: 0, waiting: 0, delayed: 0 });
      // No job ran twice: each completed on its first attempt.
      const statuses = await Promise.all(handles.map((h) => h.status()));
      expect(statuses.every((s) => s.attemptsMade === 1)).toBe(true);
    } finally {
      expect(await second.stop('SIGINT')).toBe(0);
    }
  }, 120_000);
});
