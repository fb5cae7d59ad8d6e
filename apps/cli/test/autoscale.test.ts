import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { openBullQueue } from './autoscale-support.js';
import { finished, jsonLines, startCli, type CliRun } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };
/** Worker processes load tsx and onnxruntime: seconds on a busy machine. */
const poll = { timeout: 40_000, interval: 100 };
/** Most jobs the test enqueues to build the backlog; far more than a tiny target needs. */
const MAX_JOBS = 4000;

let client: QueueClient;
let bull: Queue | undefined;
let autoscaler: { child: ChildProcess; stdout: () => string; exited: Promise<CliRun> } | undefined;

beforeAll(async () => {
  client = await createClient({ redisUrl, prefix, catalogueTtlMs: 0 });
});

afterAll(async () => {
  if (autoscaler && autoscaler.child.exitCode === null) {
    autoscaler.child.kill('SIGTERM');
    await autoscaler.exited;
  }
  await bull?.close();
  await client?.close();
  await dropPrefix(redisUrl, prefix);
});

const irisWorkers = async () =>
  (await client.workers()).filter((w) =>
    w.versions.some((v) => v.model === 'iris' && v.state === 'ready'),
  );

const irisQueue = async () =>
  (await client.status()).queues.find((q) => q.model === 'iris' && q.version === '1');

const decisions = () =>
  jsonLines(autoscaler?.stdout() ?? '') as { action: string; reason: string; target: number }[];

describe('conveyor autoscale --scaler processes', () => {
  it('adds a worker process when a paused queue builds backlog and removes it once the backlog drained', async () => {
    const child = startCli([
      'autoscale',
      '--model',
      'iris',
      '--scaler',
      'processes',
      '--min',
      '1',
      '--max',
      '2',
      '--step-up',
      '1',
      '--target-backlog',
      '0.02',
      '--interval',
      '0.2',
      '--cooldown',
      '2',
      '--redis-url',
      redisUrl,
      '--prefix',
      prefix,
      '--json',
    ]);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    autoscaler = { child, stdout: () => stdout, exited: finished(child) };

    // --min 1: one worker process at once.
    await expect.poll(async () => (await irisWorkers()).length, poll).toBe(1);
    const [first] = await irisWorkers();
    expect(decisions()[0]).toMatchObject({ action: 'up', reason: 'below-min', target: 1 });
    // A few jobs, so the worker has measured its service time (the backlog is known).
    for (let i = 0; i < 10; i++) await client.predict('iris', FLOWER);
    await expect
      .poll(async () => (await irisQueue())?.serviceSecondsPerJob, poll)
      .toBeGreaterThan(0);
    const queue = await openBullQueue(redisUrl, prefix, 'iris', '1');
    bull = queue;

    // Paused, the queue only grows: enqueue until the backlog is above the target.
    await queue.pause();
    let enqueued = 0;
    while ((await irisWorkers()).length < 2 && enqueued < MAX_JOBS) {
      await Promise.all(Array.from({ length: 100 }, () => client.enqueue('iris', FLOWER)));
      enqueued += 100;
      await sleep(300);
    }
    await expect.poll(async () => (await irisWorkers()).length, poll).toBe(2);
    const added = (await irisWorkers()).find((w) => w.id !== first!.id)!;
    expect(added.pid).not.toBe(first!.pid);
    const upAt = decisions().findIndex((d) => d.reason === 'backlog-above-target');
    expect(decisions()[upAt]).toMatchObject({ action: 'up', target: 2 });

    // Still paused, over more than a cool-down: the work waiting has not shrunk, so it holds.
    await sleep(2500);
    expect(
      decisions()
        .slice(upAt)
        .filter((d) => d.action === 'down'),
    ).toEqual([]);
    expect((await irisWorkers()).length).toBe(2);

    // Resumed, the two workers drain the queue; a cool-down later one of them is stopped.
    await queue.resume();
    await expect.poll(async () => (await queue.getJobCounts('waiting')).waiting, poll).toBe(0);
    await expect.poll(async () => (await irisWorkers()).length, poll).toBe(1);
    expect(decisions().filter((d) => d.action === 'down')).toEqual([
      expect.objectContaining({ reason: 'backlog-below-target', target: 1 }),
    ]);
    // Every job enqueued was done: the worker stopped drained its jobs in flight.
    await expect
      .poll(async () => (await queue.getJobCounts('completed')).completed, poll)
      .toBe(10 + enqueued);

    // SIGTERM stops the autoscaler and the worker it runs, with exit 0.
    child.kill('SIGTERM');
    const run = await autoscaler.exited;
    expect(run.code).toBe(0);
    await expect.poll(async () => (await irisWorkers()).length, poll).toBe(0);
  }, 180_000);
});
