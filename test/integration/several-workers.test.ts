import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { queueName, toRows, queuePrefix, queueKey } from '@conveyor/shared';
import { irisReference } from '../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const JOBS = 400;

describe('several worker processes on one queue', () => {
  let workers: WorkerProcess[] = [];
  let client: ConveyorClient;

  beforeAll(async () => {
    // Small concurrency so that neither process can take the whole burst alone.
    workers = await Promise.all(
      [0, 1].map(() => spawnWorker(redisUrl, prefix, { MODELS: 'iris', WORKER_CONCURRENCY: '4' })),
    );
    client = await createClient({ redisUrl, prefix });
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await dropPrefix(redisUrl, prefix);
  });

  it('shares the jobs: every job completes exactly once with its own correct result', async () => {
    const rows = Array.from({ length: JOBS }, (_, i) => [
      4 + (i % 40) / 10,
      3,
      1 + (i % 60) / 10,
      1,
    ]);
    const handles = await client.enqueueMany(
      'iris',
      rows.map((row) => ({ inputs: { features: [row] } })),
    );
    const results = await Promise.all(handles.map((h) => h.result()));
    const expected = irisReference(rows);
    results.forEach((result, i) => {
      expect(result.jobId).toBe(handles[i]!.id);
      toRows(result.outputs.probabilities!)[0]!.forEach((p, c) =>
        expect(p).toBeCloseTo(expected[i]![c]!, 6),
      );
    });

    const queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
      skipMetasUpdate: true,
    });
    try {
      expect(await queue.getJobCounts('completed', 'failed', 'active', 'waiting')).toEqual({
        completed: JOBS,
        failed: 0,
        active: 0,
        waiting: 0,
      });
      const jobs = await queue.getJobs(['completed'], 0, JOBS);
      // One attempt each, and both processes took part.
      expect(jobs.every((job) => job.attemptsMade === 1)).toBe(true);
      const processes = new Set(jobs.map((job) => job.processedBy));
      expect(processes.size).toBe(2);
    } finally {
      await queue.close();
    }

    // The event stream holds exactly one "completed" event per job: no job ran twice.
    const redis = new Redis(redisUrl);
    try {
      const entries = await redis.xrange(
        queueKey(prefix, queueName('iris', '1'), 'events'),
        '-',
        '+',
      );
      const completed = new Map<string, number>();
      for (const [, fields] of entries) {
        const record: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
        if (record.event === 'completed')
          completed.set(record.jobId!, (completed.get(record.jobId!) ?? 0) + 1);
      }
      expect(completed.size).toBe(JOBS);
      expect([...completed.values()].every((n) => n === 1)).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it('announces readiness only after every model has been warmed up', () => {
    for (const worker of workers) {
      const messages = worker.logs.map((r) => r.msg);
      const loaded = worker.logs.find((r) => r.msg === 'model loaded' && r.model === 'iris');
      expect(loaded?.warmupMs).toBeGreaterThan(0);
      expect(messages.indexOf('model loaded')).toBeLessThan(messages.indexOf('worker ready'));
    }
  });
});
