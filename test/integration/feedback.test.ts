import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, decodeFeedbackEntry, type QueueClient } from '@conveyor/sdk';
import {
  FEEDBACK_ONCE_MS,
  ACCURACY_WINDOWS,
  feedbackKey,
  feedbackOnceKey,
  predictionLogKey,
} from '@conveyor/shared';
import { IRIS_LABELS, irisReference } from '../../scripts/lib/iris-weights.js';
import { feedbackRepository } from '../support/feedback-repository.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';
import { FLOWERS, TRUTH, argmax } from '../support/iris-flowers.js';

/**
 * What the queue client's feedback has beyond feedback-contract.test.ts (the cases every client
 * shares): scoring against the prediction log, the trainers' consumer group and the Redis keys.
 */
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

describe('feedback and live accuracy', () => {
  let repository: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: QueueClient;
  let redis: Redis;
  const irisIds: string[] = [];

  beforeAll(async () => {
    repository = await feedbackRepository();
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository });
    client = await createClient({ redisUrl, prefix });
    redis = new Redis(redisUrl);
    for (const row of FLOWERS)
      irisIds.push((await client.predict('iris', { features: [row] })).jobId);
    // The log is written just after each result.
    while ((await redis.xlen(predictionLogKey(prefix, 'iris'))) < FLOWERS.length)
      await new Promise((resolve) => setTimeout(resolve, 10));
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.close();
    redis?.disconnect();
    await dropPrefix(redisUrl, prefix);
    await rm(repository, { recursive: true, force: true });
  });

  it('scores labels against the logged top class', async () => {
    const expected = irisReference(FLOWERS).map(argmax);
    for (const [i, id] of irisIds.entries()) {
      const truth = TRUTH[i] as number;
      // Half by class index, half by label.
      const label = i % 2 === 0 ? truth : (IRIS_LABELS[truth] as string);
      const receipt = await client.feedback(id, { label });
      expect(receipt).toMatchObject({
        id,
        model: 'iris',
        version: '1',
        kind: 'label',
        rows: 1,
        correct: expected[i] === truth ? 1 : 0,
      });
    }
    const correct = expected.filter((cls, i) => cls === TRUTH[i]).length;
    const window = (await client.accuracy('iris')).versions[0]?.windows['5m'];
    expect(window).toMatchObject({ labelled: 8, correct });
  });

  it('hands each feedback, with its inputs, to a consumer group of trainers', async () => {
    const key = feedbackKey(prefix, 'iris');
    await redis.xgroup('CREATE', key, 'trainers', '0', 'MKSTREAM');
    const reply = (await redis.xreadgroupBuffer(
      'GROUP',
      'trainers',
      'trainer-1',
      'COUNT',
      100,
      'STREAMS',
      key,
      '>',
    )) as [Buffer, [Buffer, Buffer[]][]][] | null;
    const entries = (reply?.[0]?.[1] ?? []).map(([id, pairs]) =>
      decodeFeedbackEntry('iris', id.toString(), pairs),
    );
    expect(entries.map((e) => e.jobId)).toEqual(irisIds);
    entries.forEach((entry, i) => {
      expect([...(entry.inputs?.features?.data as Float32Array)]).toEqual([
        ...new Float32Array(FLOWERS[i] as number[]),
      ]);
      const truth = TRUTH[i] as number;
      expect(entry.feedback.label).toEqual(i % 2 === 0 ? truth : IRIS_LABELS[truth]);
      expect(entry.feedback.output).toBe('probabilities');
    });
    expect(await redis.xack(key, 'trainers', ...entries.map((e) => e.entryId))).toBe(8);
  });

  it('writes a repeated truth to the stream once, under a marker kept past the longest window', async () => {
    const { jobId } = await client.predict('iris', { features: [[5.9, 3.0, 5.1, 1.8]] });
    const stream = feedbackKey(prefix, 'iris');
    const labelled = async () =>
      (await client.accuracy('iris')).versions[0]?.windows['24h'].labelled ?? 0;
    const [entries, before] = [await redis.xlen(stream), await labelled()];
    const receipts = await Promise.all(
      Array.from({ length: 5 }, (_, i) => client.feedback(jobId, { label: i % 2 ? [2] : 2 })),
    );
    expect(new Set(receipts.map((r) => r.entryId)).size).toBe(1);
    for (const receipt of receipts) expect(receipt).toEqual(receipts[0]);
    expect(await labelled()).toBe(before + 1);
    expect(await redis.xlen(stream)).toBe(entries + 1);
    // The marker lasts past the longest accuracy window, and no longer than FEEDBACK_ONCE_MS.
    const ttl = await redis.pttl(feedbackOnceKey(prefix, 'iris', jobId));
    expect(ttl).toBeGreaterThan(ACCURACY_WINDOWS['24h']);
    expect(ttl).toBeLessThanOrEqual(FEEDBACK_ONCE_MS);
  });
});
