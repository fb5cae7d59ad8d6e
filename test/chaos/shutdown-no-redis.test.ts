import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type ConveyorClient, type JobHandle } from '@conveyor/sdk';
import { SHUTDOWN_MARGIN_MS, queueName, queuePrefix } from '@conveyor/shared';
import { uniquePrefix } from '../support/prefix.js';
import { recordScenario } from './summary.js';
import {
  eventsByJob,
  retrying,
  startApp,
  startPersistentRedis,
  until,
  type AppProcess,
  type PersistentRedis,
} from './support.js';

/**
 * SIGTERM while Redis is away (killed) or frozen (SIGSTOP: its sockets stay open, nothing answers).
 * Each process must exit by its own shutdown within SHUTDOWN_TIMEOUT_MS plus a small margin, log
 * what it left unfinished, and write nothing but JSON log records meanwhile.
 */
const SHUTDOWN_TIMEOUT_MS = 3000;
const MODEL = 'text-direction';
const JOBS = 200;
const ENV = {
  SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  // A job abandoned at shutdown comes back to the next worker once its lock expires.
  JOB_LOCK_MS: '4000',
  STALLED_INTERVAL_MS: '1000',
  WORKER_CONCURRENCY: '8',
};
const INPUT = { x: { data: new Float32Array(3 * 48 * 192).fill(0.25), shape: [1, 3, 48, 192] } };

/** A Conveyor process with every line it writes on stdout and stderr, timestamped. */
interface Watched extends AppProcess {
  lines: { at: number; stream: 'stdout' | 'stderr'; text: string }[];
}

function watch(app: AppProcess): Watched {
  const lines: Watched['lines'] = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    let buffered = '';
    app.child[stream]?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const text of parts) if (text) lines.push({ at: Date.now(), stream, text });
    });
  }
  return Object.assign(app, { lines });
}

/** Lines that are not a JSON log record on stdout, written since `since`. */
const rawLinesSince = (app: Watched, since: number) =>
  app.lines.filter((l) => l.at >= since && (l.stream === 'stderr' || !l.text.startsWith('{')));

const records = (app: AppProcess, msg: string) => app.logs.filter((r) => r.msg === msg);

/** Sends SIGTERM; resolves with the exit code and how long the process took to exit. */
async function stopTimed(app: AppProcess): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await app.stop('SIGTERM');
  return { code, ms: Date.now() - started };
}

/** Both exited by their own shutdown (0, not the backstop's 1) in time, and said so. */
function expectCleanExit(
  app: AppProcess,
  stopped: { code: number | null; ms: number },
  last: string,
): void {
  expect(stopped.code).toBe(0);
  expect(stopped.ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS + SHUTDOWN_MARGIN_MS);
  expect(records(app, last)).toHaveLength(1);
  expect(records(app, 'shutdown did not finish in time; exiting')).toEqual([]);
}

async function startBoth(
  url: string,
  prefix: string,
): Promise<{ worker: Watched; producer: Watched }> {
  const worker = watch(startApp('worker', url, prefix, ENV));
  const producer = watch(startApp('producer', url, prefix, { ...ENV, PRODUCER_PORT: '0' }));
  await Promise.all([worker.logged('worker ready'), producer.logged('producer ready')]);
  return { worker, producer };
}

describe('SIGTERM while Redis does not answer', () => {
  let redis: PersistentRedis | undefined;
  let frozenPid: number | undefined;
  const apps: AppProcess[] = [];
  const clients: ConveyorClient[] = [];

  afterEach(async () => {
    if (frozenPid !== undefined) process.kill(frozenPid, 'SIGCONT');
    frozenPid = undefined;
    await Promise.all(apps.splice(0).map((a) => a.stop('SIGKILL')));
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await redis?.stop();
    redis = undefined;
  });

  it('Redis killed with jobs in flight: both exit in time, the worker names the jobs it left, the next worker runs them', async () => {
    const prefix = uniquePrefix();
    redis = await startPersistentRedis('always');
    const { worker, producer } = await startBoth(redis.url, prefix);
    apps.push(worker, producer);
    const client = await createClient({ redisUrl: redis.url, prefix });
    clients.push(client);
    const queue = new Queue(queueName(MODEL, '1'), {
      connection: { url: redis.url },
      prefix: queuePrefix(prefix, queueName(MODEL, '1')),
      skipMetasUpdate: true,
    });
    queue.on('error', () => undefined);
    const handles: JobHandle[] = [];
    try {
      // In parts: one call of 200 jobs (22 MB of inputs) can outlast a command timeout on a busy machine.
      for (let i = 0; i < JOBS; i += 20)
        handles.push(
          ...(await client.enqueueMany(
            MODEL,
            Array.from({ length: 20 }, () => ({ inputs: INPUT })),
          )),
        );
      await until(
        'some jobs to complete',
        async () => ((await queue.getJobCounts('completed')).completed ?? 0) >= 10,
      );
    } finally {
      await queue.close();
    }

    const outage = Date.now();
    await redis.crash();
    const warning = await worker.logged('redis is not answering', 15_000);
    expect(warning).toMatchObject({
      level: 40,
      redis: `127.0.0.1:${redis.port}`,
      code: 'ERR_QUEUE_UNAVAILABLE',
    });
    // Reconnection attempts go on meanwhile: each must stay a structured, rate-limited record.
    await sleep(3000);
    const [workerStop, producerStop] = await Promise.all([stopTimed(worker), stopTimed(producer)]);
    expectCleanExit(worker, workerStop, 'worker stopped');
    expectCleanExit(producer, producerStop, 'producer stopped');
    const [incomplete] = records(worker, 'worker shutdown incomplete');
    expect(incomplete).toMatchObject({ level: 40, timeoutMs: SHUTDOWN_TIMEOUT_MS });
    expect((incomplete?.unfinished as string[]).length).toBeGreaterThan(0);
    const leftActive = Object.values(incomplete?.activeJobs as Record<string, string[]>).flat();
    expect(records(worker, 'redis is not answering')).toHaveLength(1);
    for (const app of [worker, producer]) expect(rawLinesSince(app, outage)).toEqual([]);

    // Nothing acknowledged is lost: Redis comes back, and a new worker runs what was left.
    await redis.restart();
    const next = startApp('worker', redis.url, prefix, ENV);
    apps.push(next);
    const results = await Promise.all(
      handles.map((h) => retrying(() => h.result({ timeoutMs: 60_000 }))),
    );
    expect(new Set(results.map((r) => r.jobId)).size).toBe(JOBS);
    // The jobs left active ran again (at least once): they count as duplicated.
    const events = await eventsByJob(redis.url, prefix, MODEL);
    const reran = handles.filter((h) => (events.get(h.id)?.active ?? 0) > 1).length;

    recordScenario({
      scenario: 'shutdown, redis down',
      faults: `kill -9 of Redis with ${JOBS} jobs queued, then SIGTERM to worker and producer`,
      submitted: JOBS,
      completed: results.length,
      lost: 0,
      duplicated: reran,
      note: `SHUTDOWN_TIMEOUT_MS ${SHUTDOWN_TIMEOUT_MS}: worker exited 0 after ${workerStop.ms} ms, producer after ${producerStop.ms} ms; ${leftActive.length} jobs logged as left active, run again by the next worker; 0 raw stderr lines`,
    });
  });

  it('Redis frozen: the worker warns once, says when Redis answers again, and both exit in time', async () => {
    const prefix = uniquePrefix();
    redis = await startPersistentRedis('everysec');
    const { worker, producer } = await startBoth(redis.url, prefix);
    apps.push(worker, producer);
    const admin = new Redis(redis.url);
    const info = await admin.info('server');
    admin.disconnect();
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    expect(pid).toBeGreaterThan(0);
    const freeze = () => {
      process.kill(pid, 'SIGSTOP');
      frozenPid = pid;
    };
    const thaw = () => {
      process.kill(pid, 'SIGCONT');
      frozenPid = undefined;
    };

    const outage = Date.now();
    freeze();
    const warning = await worker.logged('redis is not answering', 15_000);
    const detectedMs = (warning.time as number) - outage;
    expect(warning).toMatchObject({
      level: 40,
      redis: `127.0.0.1:${redis.port}`,
      code: 'ERR_QUEUE_UNAVAILABLE',
    });
    thaw();
    const back = await worker.logged('redis answers again', 15_000);
    expect(back).toMatchObject({ level: 30, redis: `127.0.0.1:${redis.port}` });
    expect(records(worker, 'redis is not answering')).toHaveLength(1);

    // It serves again after the freeze.
    const client = await createClient({ redisUrl: redis.url, prefix });
    clients.push(client);
    const served = await Promise.all(
      Array.from({ length: 10 }, () => client.predict(MODEL, INPUT, { timeoutMs: 30_000 })),
    );

    // Frozen again, then SIGTERM: nothing Redis does may hold either process.
    freeze();
    await until(
      'the second warning',
      () => records(worker, 'redis is not answering').length === 2,
      15_000,
    );
    await sleep(1000);
    const [workerStop, producerStop] = await Promise.all([stopTimed(worker), stopTimed(producer)]);
    expectCleanExit(worker, workerStop, 'worker stopped');
    expectCleanExit(producer, producerStop, 'producer stopped');
    const [incomplete] = records(worker, 'worker shutdown incomplete');
    expect(incomplete?.unfinished).toContain('redis connection (dropped without QUIT)');
    for (const app of [worker, producer]) expect(rawLinesSince(app, outage)).toEqual([]);
    thaw();

    recordScenario({
      scenario: 'worker, redis frozen',
      faults: 'SIGSTOP of Redis, SIGCONT, SIGSTOP again, then SIGTERM to worker and producer',
      submitted: served.length,
      completed: served.length,
      lost: 0,
      duplicated: 0,
      note: `frozen Redis reported after ${detectedMs} ms (one warning per outage); SHUTDOWN_TIMEOUT_MS ${SHUTDOWN_TIMEOUT_MS}: worker exited 0 after ${workerStop.ms} ms, producer after ${producerStop.ms} ms; 0 raw stderr lines`,
    });
  });

  it('a second signal during the shutdown exits at once, and says so', async () => {
    const prefix = uniquePrefix();
    redis = await startPersistentRedis('everysec');
    const worker = startApp('worker', redis.url, prefix, { ...ENV, SHUTDOWN_TIMEOUT_MS: '30000' });
    apps.push(worker);
    await worker.logged('worker ready');
    await redis.crash();
    worker.child.kill('SIGTERM');
    await worker.logged('worker stopping: finishing jobs in flight');
    const started = Date.now();
    const code = await worker.stop('SIGINT');
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(records(worker, 'second signal: exiting without finishing shutdown')).toEqual([
      expect.objectContaining({ level: 40, signal: 'SIGINT', first: 'SIGTERM' }),
    ]);
  });
});
