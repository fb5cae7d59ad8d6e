import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ConveyorClient, type JobHandle } from '@conveyor/sdk';
import { queueName, queuePrefix } from '@conveyor/shared';
import { uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';
import { recordScenario } from './summary.js';
import { eventsByJob, startPersistentRedis, until, type PersistentRedis } from './support.js';

const JOBS = 240;
const MODEL = 'text-direction';
// Short enough that the test sees the recovery, long enough that a busy machine does not make a
// live worker miss a lock renewal (renewed every JOB_LOCK_MS / 2).
const WORKER_ENV = { JOB_LOCK_MS: '4000', STALLED_INTERVAL_MS: '1000', WORKER_CONCURRENCY: '16' };

/**
 * `inline`: the image travels in the job's JSON. `stored`: it is stored as raw bytes beside the
 * job (the SDK's default above 16 KiB), which a re-run must still find.
 */
describe.each([
  { inputs: 'inline', blobThresholdBytes: 1 << 30 },
  { inputs: 'stored', blobThresholdBytes: 16 * 1024 },
])(
  'kill -9 of a worker in the middle of a batch, inputs $inputs',
  ({ inputs, blobThresholdBytes }) => {
    const prefix = uniquePrefix();
    let redis: PersistentRedis;
    let client: ConveyorClient;
    let queue: Queue;
    const workers: WorkerProcess[] = [];

    beforeAll(async () => {
      redis = await startPersistentRedis('everysec');
      client = await createClient({ redisUrl: redis.url, prefix, blobThresholdBytes });
      queue = new Queue(queueName(MODEL, '1'), {
        connection: { url: redis.url },
        prefix: queuePrefix(prefix, queueName(MODEL, '1')),
        skipMetasUpdate: true,
      });
    });

    afterAll(async () => {
      await Promise.all(workers.map((w) => w.stop('SIGKILL')));
      await queue?.close();
      await client?.close();
      await redis?.stop();
    });

    it('completes every job exactly once; the dead worker’s jobs in flight run again on the other worker', async () => {
      const [victim, survivor] = await Promise.all([
        spawnWorker(redis.url, prefix, WORKER_ENV),
        spawnWorker(redis.url, prefix, WORKER_ENV),
      ]);
      workers.push(victim, survivor);
      const victimName = `${hostname()}:${victim.child.pid}`;

      const input = {
        x: { data: new Float32Array(3 * 48 * 192).fill(0.25), shape: [1, 3, 48, 192] },
      };
      // Not awaited yet: enqueueMany adds large bulks in round trips of about 2 MiB, and the workers
      // take jobs while later ones are still being added, so the victim is watched from the start.
      const enqueued: Promise<JobHandle[]> = client.enqueueMany(
        MODEL,
        Array.from({ length: JOBS }, () => ({ inputs: input })),
      );

      // Kill the victim while it holds jobs: some done, some in flight, most still waiting.
      let inFlight: string[] = [];
      await until('the victim to hold jobs in flight after finishing some', async () => {
        const completed = (await queue.getJobCounts('completed')).completed ?? 0;
        if (completed < 20) return false;
        const active = await queue.getActive();
        inFlight = active
          .filter((job) => job.processedBy === victimName)
          .map((job) => job.id ?? '');
        return inFlight.length > 0;
      });
      victim.child.kill('SIGKILL');
      await victim.stop();
      const handles = await enqueued;
      // The jobs the victim really held at its death: still active under its name.
      inFlight = (await queue.getActive())
        .filter((job) => job.processedBy === victimName)
        .map((job) => job.id ?? '');

      const results = await Promise.all(handles.map((h) => h.result({ timeoutMs: 60_000 })));
      expect(new Set(results.map((r) => r.jobId)).size).toBe(JOBS);
      for (const r of results) expect(r.outputs['softmax_0.tmp_0']?.shape).toEqual([1, 2]);

      const counts = await queue.getJobCounts(
        'completed',
        'failed',
        'active',
        'waiting',
        'delayed',
      );
      expect(counts).toEqual({ completed: JOBS, failed: 0, active: 0, waiting: 0, delayed: 0 });

      // From the queue's own records: one completion per job, and which jobs were started twice.
      const events = await eventsByJob(redis.url, prefix, MODEL);
      const jobs = await Promise.all(handles.map((h) => queue.getJob(h.id)));
      let ranTwice = 0;
      for (const [i, job] of jobs.entries()) {
        expect(job, `job ${handles[i]?.id}`).toBeDefined();
        expect(events.get(job?.id ?? '')?.completed).toBe(1);
        if ((job?.attemptsStarted ?? 0) > 1) ranTwice += 1;
      }
      // A job started twice is one the victim held at its death; the survivor finished it after a stall.
      const survivorName = `${hostname()}:${survivor.child.pid}`;
      for (const job of jobs.filter((j) => (j?.attemptsStarted ?? 0) > 1)) {
        expect(job?.processedBy).toBe(survivorName);
        expect(job?.stalledCounter).toBeGreaterThanOrEqual(1);
      }
      expect(ranTwice).toBeGreaterThanOrEqual(inFlight.length);
      expect(ranTwice).toBeLessThanOrEqual(16);
      expect(survivor.child.exitCode).toBeNull();

      recordScenario({
        scenario: `worker kill -9 mid-batch, ${inputs} inputs`,
        faults: `kill -9 of 1 of 2 workers (${inFlight.length} jobs in flight)`,
        submitted: JOBS,
        completed: results.length,
        lost: JOBS - results.length,
        duplicated: ranTwice,
        note: 'jobs in flight re-run after the lock expired (JOB_LOCK_MS 4000, STALLED_INTERVAL_MS 1000)',
      });
    });
  },
);
