import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createClient,
  findLoggedPrediction,
  predictionLogSize,
  readPredictionLog,
  readPredictionLogPage,
  type QueueClient,
} from '@conveyor/sdk';
import {
  createLogger,
  createTensor,
  loadConfig,
  predictionLogIndexKey,
  predictionLogKey,
} from '@conveyor/shared';
import { createPredictionLog } from '../../apps/worker/src/prediction-log.js';
import type { CompletedPrediction } from '../../apps/worker/src/prediction-observer.js';
import { irisReference } from '../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const silent = createLogger({ level: 'silent', component: 'worker' });

/** Sums the `n` (bytes) field of every entry of a log, read from Redis. */
async function entryBytes(redis: Redis, key: string): Promise<number> {
  const entries = await redis.xrange(key, '-', '+');
  return entries.reduce((sum, [, fields]) => sum + Number(fields[fields.indexOf('n') + 1]), 0);
}

describe('the prediction log, written by a worker observer', () => {
  const prefix = uniquePrefix();
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    redis.disconnect();
    await dropPrefix(redisUrl, prefix);
  });

  it('stays within its entries and bytes, exactly counted, over a long run', async () => {
    const config = loadConfig({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix });
    const limits = { sample: 1, maxLen: 100, maxBytes: 40_000 };
    const observer = createPredictionLog({
      connection: redis,
      config,
      engine: { models: new Map() },
      log: silent,
      limits,
    });
    const key = predictionLogKey(prefix, 'long');
    const index = predictionLogIndexKey(prefix, 'long');
    // Tiny entries first (the length binds), then larger ones of varying size (the bytes bind).
    const width = (i: number) => (i < 1500 ? 1 : 1 + (i % 200));
    const row = (i: number) =>
      createTensor('float32', [1, width(i)], new Float32Array(width(i)).fill(i));
    for (let i = 0; i < 3000; i += 1) {
      const done = observer.completed({
        jobId: `long.1.job-${i}`,
        model: 'long',
        version: '1',
        inputs: { x: row(i) },
        outputs: { y: row(i + 1) },
        queuedMs: 1,
        inferenceMs: 2,
        completedAt: Date.now(),
        payload: { owner: 'ci' },
      } as unknown as CompletedPrediction);
      if (i % 50 === 49) {
        await done;
        const { entries, bytes } = await predictionLogSize(redis, prefix, 'long');
        expect(entries).toBeLessThanOrEqual(limits.maxLen);
        expect(bytes).toBeLessThanOrEqual(limits.maxBytes);
        expect(bytes).toBe(await entryBytes(redis, key));
        expect(await redis.hlen(index)).toBe(entries);
        if (i < 1500 && i > 200) expect(entries).toBe(limits.maxLen);
        if (i > 1700) expect(entries).toBeLessThan(limits.maxLen);
      }
    }
    // The newest entries are kept, oldest first, each readable.
    const kept = [];
    for await (const entry of readPredictionLog(redis, prefix, 'long', { pageSize: 37 }))
      kept.push(entry);
    expect(kept.length).toBeGreaterThan(20);
    expect(kept.at(-1)?.jobId).toBe('long.1.job-2999');
    const numbers = kept.map((e) => Number(e.jobId.split('-')[1]));
    expect(numbers).toEqual(numbers.map((_, i) => 3000 - kept.length + i));
    expect([...(kept.at(-1)?.inputs.x?.data as Float32Array)]).toEqual(
      new Array(width(2999)).fill(2999),
    );
    // Trimmed entries left the index too.
    expect(await findLoggedPrediction(redis, prefix, 'long.1.job-0')).toBeUndefined();
  });

  it('with a budget that fits one entry, keeps just the newest', async () => {
    const config = loadConfig({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix });
    const observer = createPredictionLog({
      connection: redis,
      config,
      engine: { models: new Map() },
      log: silent,
      limits: { sample: 1, maxLen: 100, maxBytes: 1200 },
    });
    const big = createTensor('float32', [1, 200], new Float32Array(200));
    for (let i = 0; i < 5; i += 1)
      await observer.completed({
        jobId: `one.1.job-${i}`,
        model: 'one',
        version: '1',
        outputs: { y: big },
        queuedMs: 0,
        inferenceMs: 0,
        completedAt: 0,
        payload: {},
      } as unknown as CompletedPrediction);
    const page = await readPredictionLogPage(redis, prefix, 'one');
    expect(page.entries.map((e) => e.jobId)).toEqual(['one.1.job-4']);
    // An entry over the whole budget is not logged at all.
    const huge = createTensor('float32', [1, 1000], new Float32Array(1000));
    await observer.completed({
      jobId: 'one.1.huge',
      model: 'one',
      version: '1',
      outputs: { y: huge },
      queuedMs: 0,
      inferenceMs: 0,
      completedAt: 0,
      payload: {},
    } as unknown as CompletedPrediction);
    expect((await readPredictionLogPage(redis, prefix, 'one')).entries).toHaveLength(1);
  });
});

describe('the prediction log of a served model', () => {
  const prefix = uniquePrefix();
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: QueueClient;
  let redis: Redis;

  beforeAll(async () => {
    worker = await startInProcessWorker(redisUrl, prefix, {
      MODELS: 'iris',
      PREDICTION_LOG_SAMPLE: '1',
    });
    client = await createClient({ redisUrl, prefix });
    redis = new Redis(redisUrl);
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await worker?.close();
    redis?.disconnect();
    await dropPrefix(redisUrl, prefix);
  });

  it('logs each prediction with its inputs, outputs, version and latency, readable by id and time', async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [7.0, 3.2, 4.7, 1.4],
      [6.3, 3.3, 6.0, 2.5],
    ];
    const before = Date.now() - 1000;
    const ids: string[] = [];
    for (const row of rows) ids.push((await client.predict('iris', { features: [row] })).jobId);
    // The log is written after the result: wait for the last entry.
    await expect.poll(() => redis.xlen(predictionLogKey(prefix, 'iris'))).toBe(3);
    const logged = [];
    for await (const entry of client.predictionLog('iris', { since: before, pageSize: 2 }))
      logged.push(entry);
    expect(logged.map((e) => e.jobId)).toEqual(ids);
    const expected = irisReference(rows);
    logged.forEach((entry, i) => {
      expect(entry.version).toBe('1');
      expect([...(entry.inputs.features?.data as Float32Array)]).toEqual([
        ...new Float32Array(rows[i] as number[]),
      ]);
      const probabilities = [...(entry.outputs.probabilities?.data as Float32Array)];
      probabilities.forEach((p, k) => expect(p).toBeCloseTo(expected[i]?.[k] as number, 5));
      expect(entry.queuedMs).toBeGreaterThanOrEqual(0);
      expect(entry.inferenceMs).toBeGreaterThanOrEqual(0);
      expect(entry.loggedAt).toBeGreaterThanOrEqual(before);
    });
    expect((await findLoggedPrediction(redis, prefix, ids[1] as string))?.jobId).toBe(ids[1]);
    // Filters: another version has no entries; a window after the last entry is empty.
    expect((await readPredictionLogPage(redis, prefix, 'iris', { version: '2' })).entries).toEqual(
      [],
    );
    const after = (logged.at(-1)?.loggedAt ?? 0) + 1;
    expect((await readPredictionLogPage(redis, prefix, 'iris', { since: after })).entries).toEqual(
      [],
    );
  });

  it('never logs a prediction made with log: false', async () => {
    const before = await redis.xlen(predictionLogKey(prefix, 'iris'));
    const quiet = await client.predict('iris', { features: [[5, 3, 1.5, 0.2]] }, { log: false });
    const loud = await client.predict('iris', { features: [[5, 3, 1.5, 0.2]] });
    // Jobs finish in order on one worker: once the second is logged, the first would have been.
    await expect.poll(() => findLoggedPrediction(redis, prefix, loud.jobId)).toBeDefined();
    expect(await findLoggedPrediction(redis, prefix, quiet.jobId)).toBeUndefined();
    expect(await redis.xlen(predictionLogKey(prefix, 'iris'))).toBe(before + 1);
  });

  it('refuses a bad query with ERR_VALIDATION', async () => {
    await expect(
      readPredictionLogPage(redis, prefix, 'iris', { pageSize: 0 }),
    ).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await expect(findLoggedPrediction(redis, prefix, 'not an id')).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
  });
});

describe('a model whose log samples nothing', () => {
  const prefix = uniquePrefix();

  it('logs no prediction when PREDICTION_LOG_SAMPLE is 0 and model.json says nothing', async () => {
    const worker = await startInProcessWorker(redisUrl, prefix, { MODELS: 'iris' });
    const client = await createClient({ redisUrl, prefix });
    const redis = new Redis(redisUrl);
    try {
      await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
      // A sampled prediction is logged within milliseconds; give it time to appear, then check.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await redis.xlen(predictionLogKey(prefix, 'iris'))).toBe(0);
    } finally {
      await client.close();
      await worker.close();
      redis.disconnect();
      await dropPrefix(redisUrl, prefix);
    }
  }, 60_000);
});
