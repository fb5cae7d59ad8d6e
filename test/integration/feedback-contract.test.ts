/**
 * Feedback and live accuracy as every ConveyorClient gives them: the queue client (against a real
 * worker and Redis) and the embedded client (in memory) run the same cases. What only one of them
 * has is tested beside it: the prediction log and the trainers' consumer group in
 * feedback.test.ts, the predictions an embedded client keeps in embedded-feedback.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { IRIS_LABELS, irisReference } from '../../scripts/lib/iris-weights.js';
import { feedbackRepository } from '../support/feedback-repository.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';
import { FLOWERS, TRUTH, argmax } from '../support/iris-flowers.js';

const redisUrl = inject('redisUrl');

const FLOWER = { features: [[5.9, 3.0, 5.1, 1.8]] };

const none = { labelled: 0, correct: 0, accuracy: null, valued: 0, mae: null, rmse: null };

interface Subject {
  client: ConveyorClient;
  close(): Promise<void>;
}

const queued = async (repository: string): Promise<Subject> => {
  const prefix = uniquePrefix();
  const worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository });
  const client = await createClient({ redisUrl, prefix });
  return {
    client,
    async close() {
      await client.close();
      await worker.close();
      await dropPrefix(redisUrl, prefix);
    },
  };
};

const embedded = async (repository: string): Promise<Subject> => {
  const client = await createEmbeddedClient({ repository });
  return { client, close: () => client.close() };
};

describe.each([
  ['queue client', queued],
  ['embedded client', embedded],
])('feedback and live accuracy: %s', (_name, open) => {
  let repository: string;
  let subject: Subject;
  let client: ConveyorClient;

  beforeAll(async () => {
    repository = await feedbackRepository();
    subject = await open(repository);
    client = subject.client;
  }, 60_000);

  afterAll(async () => {
    await subject?.close();
    if (repository) await rm(repository, { recursive: true, force: true });
  });

  it('scores labels against the top class and counts accuracy per window', async () => {
    const expected = irisReference(FLOWERS).map(argmax);
    const correct = expected.filter((cls, i) => cls === TRUTH[i]).length;
    expect(correct).toBeGreaterThan(0);
    expect(correct).toBeLessThan(FLOWERS.length);
    const ids: string[] = [];
    for (const row of FLOWERS) ids.push((await client.predict('iris', { features: [row] })).jobId);
    for (const [i, id] of ids.entries()) {
      const truth = TRUTH[i] as number;
      // Half by class index, half by label.
      const label = i % 2 === 0 ? truth : (IRIS_LABELS[truth] as string);
      const receipt = await client.feedback(id, { label });
      expect(receipt).toMatchObject({ id, model: 'iris', version: '1', kind: 'label', rows: 1 });
      expect(receipt.correct).toBe(expected[i] === truth ? 1 : 0);
      expect(receipt.entryId).toMatch(/^\d+-\d+$/);
    }
    const now = await client.accuracy('iris');
    const all = { labelled: 8, correct, accuracy: correct / 8, valued: 0, mae: null, rmse: null };
    expect(now).toEqual({
      model: 'iris',
      at: now.at,
      versions: [{ version: '1', windows: { '5m': all, '1h': all, '24h': all } }],
    });
    // The same counts read later: they leave the 5-minute window, then the hour, then the day.
    const later = async (ms: number) =>
      (await client.accuracy('iris', { at: now.at + ms })).versions[0]?.windows;
    expect(await later(6 * 60_000)).toEqual({ '5m': none, '1h': all, '24h': all });
    expect(await later(2 * 3_600_000)).toEqual({ '5m': none, '1h': none, '24h': all });
    expect(await later(25 * 3_600_000)).toEqual({ '5m': none, '1h': none, '24h': none });
  });

  it('scores values of a regression: MAE and RMSE per window', async () => {
    const first = await client.predict('reg', { x: [[1.5], [2], [-1]] });
    const second = await client.predict('reg', { x: [[4]] });
    const receipt = await client.feedback(first.jobId, { value: [1, 2.5, -1] });
    expect(receipt).toMatchObject({ kind: 'value', rows: 3, version: '1' });
    expect(receipt.meanAbsoluteError).toBeCloseTo(1 / 3, 6);
    await client.feedback(second.jobId, { value: 1 });
    // Errors 0.5, 0.5, 0 and 3.
    const window = (await client.accuracy('reg')).versions[0]?.windows['5m'];
    expect(window?.valued).toBe(4);
    expect(window?.mae).toBeCloseTo(1, 6);
    expect(window?.rmse).toBeCloseTo(Math.sqrt(9.5 / 4), 6);
    expect(window?.accuracy).toBeNull();
  });

  it('counts a prediction once: repeats of its truth answer the first receipt, even at once', async () => {
    const { jobId } = await client.predict('iris', FLOWER);
    const labelled = async () =>
      (await client.accuracy('iris')).versions[0]?.windows['24h'].labelled ?? 0;
    const before = await labelled();
    const receipts = await Promise.all(
      Array.from({ length: 5 }, (_, i) => client.feedback(jobId, { label: i % 2 ? [2] : 2 })),
    );
    expect(new Set(receipts.map((r) => r.entryId)).size).toBe(1);
    for (const receipt of receipts) expect(receipt).toEqual(receipts[0]);
    expect(await labelled()).toBe(before + 1);
  });

  it('refuses another truth with ERR_FEEDBACK_EXISTS; of two at once, exactly one counts', async () => {
    const { jobId } = await client.predict('reg', { x: [[0.5]] });
    const valued = async () =>
      (await client.accuracy('reg')).versions[0]?.windows['24h'].valued ?? 0;
    const before = await valued();
    const settled = await Promise.allSettled([
      client.feedback(jobId, { value: 1 }),
      client.feedback(jobId, { value: 2 }),
    ]);
    const kept = settled.filter((s) => s.status === 'fulfilled');
    expect(kept).toHaveLength(1);
    const [refused] = settled.filter((s) => s.status === 'rejected');
    expect(refused?.reason).toMatchObject({
      code: 'ERR_FEEDBACK_EXISTS',
      details: { id: jobId, model: 'reg', entryId: kept[0]?.value.entryId },
    });
    expect(await valued()).toBe(before + 1);
    // The first truth again is still answered, whichever it was.
    const first = kept[0]?.value.meanAbsoluteError === 0.5 ? 1 : 2;
    expect(await client.feedback(jobId, { value: first })).toEqual(kept[0]?.value);
  });

  it('refuses unknown predictions, other owners and bad feedback or options', async () => {
    const notFound = { code: 'ERR_PREDICTION_NOT_FOUND' };
    await expect(client.feedback(`iris.1.${randomUUID()}`, { label: 0 })).rejects.toMatchObject(
      notFound,
    );
    const { jobId } = await client.predict('iris', FLOWER, { owner: 'alice' });
    await expect(client.feedback(jobId, { label: 2 }, { owner: 'bob' })).rejects.toMatchObject(
      notFound,
    );
    const invalid = { code: 'ERR_VALIDATION' };
    await expect(client.feedback('no such id', { label: 0 })).rejects.toMatchObject(invalid);
    await expect(client.feedback(jobId, { label: 'rose' })).rejects.toMatchObject(invalid);
    await expect(client.feedback(jobId, { label: [1, 2] })).rejects.toMatchObject(invalid);
    await expect(client.feedback(jobId, { label: 1, value: 1 })).rejects.toMatchObject(invalid);
    const reg = await client.predict('reg', { x: [[4]] });
    await expect(client.feedback(reg.jobId, { value: [1, 2] })).rejects.toMatchObject(invalid);
    await expect(client.accuracy('../iris')).rejects.toMatchObject(invalid);
    await expect(client.accuracy('iris', { at: 1.5 })).rejects.toMatchObject(invalid);
    // None of those counted, and the owner's own feedback still does.
    expect(await client.feedback(jobId, { label: 2 }, { owner: 'alice' })).toMatchObject({
      id: jobId,
      rows: 1,
    });
    expect((await client.accuracy('nobody')).versions).toEqual([]);
  });
});
