import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRODUCER_COMMAND_TIMEOUT_MS } from '@conveyor/shared';
import { DEADLINE_GRACE_MS } from '../../apps/producer/src/oip/infer.js';
import { startRedisServer, type RedisHandle } from '../../scripts/lib/redis-server.js';
import { uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';
import { recordScenario } from './summary.js';
import { eventsByJob, startProducer, until, type AppProcess } from './support.js';

/** How long Redis stays frozen. */
const FROZEN_MS = 8000;
/** The wait an infer asks for with Conveyor-Timeout-Ms. */
const DEADLINE_MS = 3000;
/** What a request may take past its bound: the rate limiter's count and the HTTP round trip. */
const MARGIN_MS = 1000;
/** What an infer may take past its deadline: the producer's grace, then as above. */
const INFER_MARGIN_MS = DEADLINE_GRACE_MS + 500;
const INFER_BODY = JSON.stringify({
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
});

interface Timed {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

/** A request with its status, JSON body and duration; a request still open after 20 s fails. */
async function timed(url: string, init: RequestInit = {}): Promise<Timed> {
  const started = Date.now();
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  const text = await response.text();
  const body = text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {};
  return { status: response.status, body, ms: Date.now() - started };
}

describe('Redis frozen by SIGSTOP (socket open, no answers)', () => {
  const prefix = uniquePrefix();
  let redis: RedisHandle & { process: ChildProcess; port: number };
  let worker: WorkerProcess | undefined;
  let producer: (AppProcess & { base: string }) | undefined;
  let frozen = false;

  const freeze = () => {
    redis.process.kill('SIGSTOP');
    frozen = true;
  };
  const thaw = () => {
    if (!frozen) return;
    redis.process.kill('SIGCONT');
    frozen = false;
  };
  const infer = (deadlineMs?: number) =>
    timed(`${producer?.base}/v2/models/iris/infer`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(deadlineMs !== undefined && { 'conveyor-timeout-ms': String(deadlineMs) }),
      },
      body: INFER_BODY,
    });

  beforeAll(async () => {
    redis = await startRedisServer();
    [worker, producer] = await Promise.all([
      spawnWorker(redis.url, prefix),
      startProducer(redis.url, prefix),
    ]);
  });

  afterAll(async () => {
    // A stopped redis-server would never exit on SIGTERM: wake it first, whatever happened.
    try {
      thaw();
      await worker?.stop('SIGKILL');
      await producer?.stop('SIGKILL');
    } finally {
      if (frozen) redis?.process.kill('SIGKILL');
      await redis?.stop();
    }
  });

  it('answers every request within its deadline, says not ready at once, and recovers after SIGCONT', async () => {
    const base = producer?.base ?? '';
    // Before: everything answers, and the /v1 job routes have opened their connection.
    const warm = await infer(DEADLINE_MS);
    expect(warm.status).toBe(200);
    const submitted = await timed(`${base}/v1/models/iris/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: { features: [[5.1, 3.5, 1.4, 0.2]] } }),
    });
    expect(submitted.status).toBe(202);
    const jobId = String(submitted.body.job_id);
    await until('the submitted job to finish', async () => {
      const status = await timed(`${base}/v1/jobs/${jobId}`);
      return status.body.state === 'completed';
    });
    expect((await timed(`${base}/v2/health/ready`)).status).toBe(200);
    expect((await timed(`${base}/v2/models/iris/ready`)).status).toBe(200);

    freeze();
    const frozenAt = Date.now();
    // Readiness, polled as a load balancer would, turns within a second or two.
    const notReady = (async () => {
      for (;;) {
        const ready = await timed(`${base}/v2/health/ready`);
        if (ready.status === 503) return { ...ready, after: Date.now() - frozenAt };
        if (Date.now() - frozenAt > 10_000) throw new Error('readiness never said not ready');
        await sleep(100);
      }
    })();
    const [metadata, job, inferred, short, modelReady, ready] = await Promise.all([
      timed(`${base}/v2`),
      timed(`${base}/v1/jobs/${jobId}`),
      infer(DEADLINE_MS),
      infer(1000),
      timed(`${base}/v2/models/iris/ready`),
      notReady,
    ]);

    // Server metadata needs no Redis: the rate limiter skips its count and it answers.
    expect(metadata.status).toBe(200);
    expect(metadata.ms).toBeLessThan(MARGIN_MS);
    // A job read has no deadline of its own: it fails after one command timeout.
    expect(job.status).toBe(503);
    expect(job.body.code).toBe('ERR_QUEUE_UNAVAILABLE');
    expect(job.ms).toBeLessThan(PRODUCER_COMMAND_TIMEOUT_MS + MARGIN_MS);
    // Infer keeps its deadline, whichever step Redis holds (back-pressure, enqueue, wait).
    for (const [answer, deadline] of [
      [inferred, DEADLINE_MS],
      [short, 1000],
    ] as const) {
      expect([503, 504]).toContain(answer.status);
      expect(['ERR_QUEUE_UNAVAILABLE', 'ERR_JOB_TIMEOUT']).toContain(answer.body.code);
      expect(answer.ms).toBeLessThan(deadline + INFER_MARGIN_MS);
    }
    expect(modelReady.status).toBe(503);
    expect(modelReady.ms).toBeLessThan(PRODUCER_COMMAND_TIMEOUT_MS + MARGIN_MS);
    expect(ready.after).toBeLessThan(2000);
    // Messages name the Redis and what to check, not the client library's internals.
    for (const answer of [job, inferred, short, modelReady]) {
      expect(String(answer.body.message)).toContain(`127.0.0.1:${redis.port}`);
      expect(String(answer.body.message)).not.toMatch(/enableOfflineQueue|Command timed out/);
    }
    expect(String(ready.body.reason)).toContain(`127.0.0.1:${redis.port}`);

    // Still frozen a while later: the producer stays up and keeps answering.
    await sleep(Math.max(0, FROZEN_MS - (Date.now() - frozenAt)));
    const later = await infer(DEADLINE_MS);
    expect([503, 504]).toContain(later.status);
    expect(later.ms).toBeLessThan(DEADLINE_MS + INFER_MARGIN_MS);
    expect((await timed(`${base}/v2/health/ready`)).status).toBe(503);
    expect(producer?.child.exitCode).toBeNull();
    expect(worker?.child.exitCode).toBeNull();

    thaw();
    const thawedAt = Date.now();
    await until('readiness after SIGCONT', async () => {
      return (await timed(`${base}/v2/health/ready`)).status === 200;
    });
    const readyAgainMs = Date.now() - thawedAt;
    expect(readyAgainMs).toBeLessThan(3000);
    // Recovered by itself: the same connections serve again.
    const after = await infer(DEADLINE_MS);
    expect(after.status).toBe(200);
    expect(after.body.outputs).toBeDefined();
    const reread = await timed(`${base}/v1/jobs/${jobId}`);
    expect(reread.status).toBe(200);
    expect(reread.body.state).toBe('completed');
    expect((await timed(`${base}/v2/models/iris/ready`)).status).toBe(200);

    // Jobs written to the socket during the freeze run once Redis reads them; their requests were
    // answered 503/504, so a client that retries without a key runs them twice.
    await sleep(1000);
    const events = await eventsByJob(redis.url, prefix, 'iris');
    const completed = [...events.values()].filter((e) => e.completed > 0).length;
    const duplicated = [...events.values()].filter((e) => e.active > 1).length;
    const answered = 3; // warm, submitted, after
    const freezeRequests = [inferred, short, later];
    recordScenario({
      scenario: 'redis frozen (SIGSTOP)',
      faults: `SIGSTOP of Redis for ${FROZEN_MS} ms, then SIGCONT`,
      submitted: answered + freezeRequests.length,
      completed: answered,
      lost: 0,
      duplicated,
      note: `while frozen: GET /v2 ${metadata.status} in ${metadata.ms} ms, GET /v1/jobs/{id} ${job.status} in ${job.ms} ms, infer (deadline ${DEADLINE_MS} ms) ${inferred.status} in ${inferred.ms} ms, infer (1000 ms) ${short.status} in ${short.ms} ms; ready 503 ${ready.after} ms after SIGSTOP, 200 ${readyAgainMs} ms after SIGCONT; ${completed - answered} of the ${freezeRequests.length} infers answered 503/504 ran after SIGCONT`,
    });
  });

  it('says the model is not ready while its only worker is frozen, and ready after SIGCONT', async () => {
    const base = producer?.base ?? '';
    const child = worker?.child;
    if (!child) throw new Error('no worker');
    expect((await timed(`${base}/v2/models/iris/ready`)).status).toBe(200);
    const stoppedAt = Date.now();
    child.kill('SIGSTOP');
    try {
      await until(
        'the model to be not ready',
        async () => (await timed(`${base}/v2/models/iris/ready`)).status === 400,
        15_000,
      );
    } finally {
      child.kill('SIGCONT');
    }
    const notReadyMs = Date.now() - stoppedAt;
    const thawedAt = Date.now();
    await until(
      'the model to be ready again',
      async () => (await timed(`${base}/v2/models/iris/ready`)).status === 200,
      15_000,
    );
    const readyMs = Date.now() - thawedAt;
    // The producer itself stayed ready: it can still accept work for the model's queue.
    expect((await timed(`${base}/v2/health/ready`)).status).toBe(200);
    recordScenario({
      scenario: 'worker frozen (SIGSTOP)',
      faults: 'SIGSTOP of the only worker, then SIGCONT',
      submitted: 0,
      completed: 0,
      lost: 0,
      duplicated: 0,
      note: `/v2/models/iris/ready 400 ${notReadyMs} ms after SIGSTOP (worker beat 1 s, silent after 4 s), 200 ${readyMs} ms after SIGCONT; /v2/health/ready stayed 200`,
    });
  });
});
