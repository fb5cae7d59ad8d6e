/**
 * Scenario 8, plain BullMQ round trip, no Conveyor code at all: `Queue.addBulk` with the same
 * sliding window as scenario 3, a no-op BullMQ worker process, and QueueEvents counting
 * completions. What BullMQ and Redis cost per job on this machine.
 */
import { Queue, QueueEvents } from 'bullmq';
import type { BenchContext } from '../context.js';
import { driverCpuSeconds, processCpuSeconds, redisInfo } from '../cpu.js';
import { WINDOW, warmUpJobs } from '../drive.js';
import { round, say } from '../lib.js';
import type { BenchResults } from '../results.js';
import { WORKLOADS } from '../workloads.js';

const QUEUE = 'plain-iris';

export async function runPlainBullmq(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n8. plain BullMQ round trip: addBulk, a no-op worker process, QueueEvents (iris payloads)');
  const prefix = ctx.prefixFor('plain');
  const jobs = ctx.counts.irisJobs;
  const connection = { url: ctx.redis.url };
  const queue = new Queue(QUEUE, { connection, prefix });
  const events = new QueueEvents(QUEUE, { connection, prefix });
  const worker = await ctx.start(
    'scripts/bench/plain-worker.ts',
    // As many as a Conveyor worker holds of iris by default (2 x 1 thread x 32 rows a call); a
    // no-op worker ran as fast at 32 (8,804 and 7,109 jobs/s against 8,842 and 7,077 at 64).
    { QUEUE, PREFIX: prefix, WORKER_CONCURRENCY: '64' },
    'plain worker ready',
  );
  try {
    await events.waitUntilReady();
    const { pid: redisPid } = await redisInfo(ctx.redis.url);
    const data = { inputs: { features: [...WORKLOADS.iris.row] } };
    let completed = 0;
    let target = Number.POSITIVE_INFINITY;
    let release: (() => void) | undefined;
    events.on('completed', () => {
      completed += 1;
      if (completed >= target) release?.();
    });
    let deadline = Number.POSITIVE_INFINITY;
    /** Resolves once `done` jobs have completed; rejects at the deadline. */
    const waitFor = (done: number) =>
      completed >= done
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error('plain BullMQ: not every job completed in time')),
              Math.max(0, deadline - performance.now()),
            );
            target = done;
            release = () => {
              clearTimeout(timer);
              release = undefined;
              resolve();
            };
          });
    /** Adds `count` jobs with the window of scenario 3 and waits until they have completed. */
    const run = async (count: number) => {
      const base = completed;
      for (let added = 0; added < count;) {
        const part = Math.min(250, count - added);
        await waitFor(base + added + part - WINDOW);
        // Conveyor keeps 10 000 completed jobs by default; so does this queue.
        await queue.addBulk(
          Array.from({ length: part }, () => ({
            name: 'predict',
            data,
            opts: { removeOnComplete: 10_000 },
          })),
        );
        added += part;
      }
      await waitFor(base + count);
    };
    // Warmed as Conveyor's scenarios are, with as many jobs, unmeasured.
    deadline = performance.now() + 120_000;
    await run(warmUpJobs(jobs));
    const before = {
      driver: process.cpuUsage(),
      worker: processCpuSeconds(worker.child.pid),
      redis: processCpuSeconds(redisPid),
    };
    const started = performance.now();
    deadline = started + 120_000;
    await run(jobs);
    const seconds = (performance.now() - started) / 1000;
    results.plainBullmq = {
      jobs,
      window: WINDOW,
      jobsPerSecond: round(jobs / seconds, 0),
      seconds: round(seconds, 2),
      cpuSeconds: {
        driver: round(driverCpuSeconds(before.driver), 2),
        worker: round(processCpuSeconds(worker.child.pid) - before.worker, 2),
        redis: round(processCpuSeconds(redisPid) - before.redis, 2),
      },
    };
    say(`   ${JSON.stringify(results.plainBullmq)}`);
  } finally {
    await events.close();
    await queue.close();
    await ctx.stop(worker);
  }
}
