import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { irisInputs, modelQueue, startJobsProducer } from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const ALICE = 'alice-secret-0123456789';
const BOB = 'bob-secret-0123456789ab';
const OPS = 'ops-secret-0123456789ab';

/**
 * Idempotency keys per the IETF idempotency-key draft, and jobs that belong to the API key that
 * created them: two infer keys, one admin key, a real worker and Redis.
 */
describe('idempotency keys and job ownership across API keys', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let iris: Queue;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix, {
      API_KEYS: `alice:infer:${ALICE},bob:infer:${BOB},ops:admin:${OPS}`,
    });
    worker = await startWorkerService(
      config,
      createLogger({ level: 'silent', component: 'worker' }),
    );
    producer = await startJobsProducer(config);
    iris = modelQueue(redisUrl, prefix, 'iris');
  }, 60_000);

  afterAll(async () => {
    await iris?.close();
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  const as = (secret: string, extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${secret}`,
    ...extra,
  });
  const submit = (secret: string, key: string, rows?: number[][]) =>
    producer.app.inject({
      method: 'POST',
      url: '/v1/models/iris/jobs',
      payload: { inputs: irisInputs(rows) },
      headers: as(secret, { 'idempotency-key': key }),
    });
  const jobIdOf = (response: { json: <T>() => T }) => response.json<{ job_id: string }>().job_id;

  it('gives the same job for the same key and request, and runs it once', async () => {
    const first = await submit(ALICE, 'order-1');
    const again = await submit(ALICE, 'order-1');
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(jobIdOf(again)).toBe(jobIdOf(first));
    const result = await producer.app.inject({
      method: 'GET',
      url: `/v1/jobs/${jobIdOf(first)}/result?wait=20`,
      headers: as(ALICE),
    });
    expect(result.statusCode).toBe(200);
    expect((await iris.getJob(jobIdOf(first)))?.attemptsStarted).toBe(1);
  });

  it('refuses the same key with a different request with 422', async () => {
    await submit(ALICE, 'order-2', [[5.1, 3.5, 1.4, 0.2]]);
    const other = await submit(ALICE, 'order-2', [[6.1, 3.5, 1.4, 0.2]]);
    expect(other.statusCode).toBe(422);
    expect(other.json<ErrorBody>().code).toBe('ERR_IDEMPOTENCY_KEY_REUSED');
  });

  it('scopes keys to the API key: the same key of another key is another job', async () => {
    const alice = await submit(ALICE, 'shared-key');
    const bob = await submit(BOB, 'shared-key', [[6.1, 3.5, 1.4, 0.2]]);
    expect(bob.statusCode).toBe(202);
    expect(jobIdOf(bob)).not.toBe(jobIdOf(alice));
  });

  it('gives job ids that cannot be derived from the key', async () => {
    const id = jobIdOf(await submit(ALICE, 'order-3'));
    const sha = createHash('sha256').update('order-3').digest('hex').slice(0, 32);
    expect(id).not.toContain(sha);
    expect(id).toMatch(/^iris\.1\.k-[0-9a-f]{32}$/);
  });

  it("answers 404 for another infer key's job, and shows it to an admin key", async () => {
    const id = jobIdOf(await submit(ALICE, 'order-4'));
    for (const url of [`/v1/jobs/${id}`, `/v1/jobs/${id}/result`, `/v1/jobs/${id}/events`]) {
      const bob = await producer.app.inject({ method: 'GET', url, headers: as(BOB) });
      expect(bob.statusCode, url).toBe(404);
      expect(bob.json<ErrorBody>().code).toBe('ERR_JOB_NOT_FOUND');
    }
    const cancel = await producer.app.inject({
      method: 'DELETE',
      url: `/v1/jobs/${id}`,
      headers: as(BOB),
    });
    expect(cancel.statusCode).toBe(404);
    const own = await producer.app.inject({
      method: 'GET',
      url: `/v1/jobs/${id}`,
      headers: as(ALICE),
    });
    expect(own.statusCode).toBe(200);
    const admin = await producer.app.inject({
      method: 'GET',
      url: `/v1/jobs/${id}`,
      headers: as(OPS),
    });
    expect(admin.statusCode).toBe(200);
  });

  it('gives an asynchronous /v2 inference to the key that asked for it', async () => {
    const accepted = await producer.app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: {
        inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }],
      },
      headers: as(ALICE, { prefer: 'respond-async' }),
    });
    expect(accepted.statusCode).toBe(202);
    const id = jobIdOf(accepted);
    const bob = await producer.app.inject({
      method: 'GET',
      url: `/v1/jobs/${id}`,
      headers: as(BOB),
    });
    expect(bob.statusCode).toBe(404);
    const alice = await producer.app.inject({
      method: 'GET',
      url: `/v1/jobs/${id}`,
      headers: as(ALICE),
    });
    expect(alice.statusCode).toBe(200);
  });

  it("answers 404 for another infer key's batch", async () => {
    const batch = await producer.app.inject({
      method: 'POST',
      url: '/v1/models/iris/jobs:batch',
      payload: { items: [{ inputs: irisInputs() }] },
      headers: as(ALICE),
    });
    expect(batch.statusCode).toBe(202);
    const { batch_id } = batch.json<{ batch_id: string }>();
    const bob = await producer.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch_id}`,
      headers: as(BOB),
    });
    expect(bob.statusCode).toBe(404);
    const alice = await producer.app.inject({
      method: 'GET',
      url: `/v1/batches/${batch_id}`,
      headers: as(ALICE),
    });
    expect(alice.statusCode).toBe(200);
  });

  it('answers 409 while the first request of a key has not added its job, then takes over', async () => {
    const id = jobIdOf(await submit(ALICE, 'order-5'));
    // The first request's record stays; its job is gone, as if that request had died before
    // adding it, just now (within the 2 s acceptance window).
    await producer.client.job(id).result({ timeoutMs: 20_000 });
    await iris.remove(id);
    await stampRecords(prefix, 0);
    const busy = await submit(ALICE, 'order-5');
    expect(busy.statusCode).toBe(409);
    expect(busy.json<ErrorBody>().code).toBe('ERR_IDEMPOTENCY_IN_PROGRESS');
    // Once the window has passed, a repeat adds the job the first request could not.
    await stampRecords(prefix, 3000);
    const retried = await submit(ALICE, 'order-5');
    expect(retried.statusCode).toBe(202);
    expect(jobIdOf(retried)).toBe(id);
  });
});

/** The idempotency records of a prefix, by Redis key. */
async function recordsOf(keyPrefix: string): Promise<Record<string, string>> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  try {
    const keys = await redis.keys(`${keyPrefix}:idem:*`);
    const values = keys.length > 0 ? await redis.mget(...keys) : [];
    return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  } finally {
    redis.disconnect();
  }
}

/** Dates every idempotency record of a prefix `agoMs` before now. */
async function stampRecords(keyPrefix: string, agoMs: number): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl);
  try {
    for (const [key, value] of Object.entries(await recordsOf(keyPrefix))) {
      const record = JSON.parse(value) as { at: number };
      record.at = Date.now() - agoMs;
      await redis.set(key, JSON.stringify(record), 'KEEPTTL');
    }
  } finally {
    redis.disconnect();
  }
}
