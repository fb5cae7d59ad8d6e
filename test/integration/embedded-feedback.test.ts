import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { feedbackRepository } from '../support/feedback-repository.js';

/**
 * What the embedded client keeps for feedback; the feedback cases every client shares are in
 * feedback-contract.test.ts.
 */
const FLOWER = { features: [[5.9, 3.0, 5.1, 1.8]] };
const FLOWERS = [
  [5.1, 3.5, 1.4, 0.2],
  [4.9, 3.0, 1.4, 0.2],
  [7.0, 3.2, 4.7, 1.4],
];

describe('the predictions an embedded client keeps for feedback', () => {
  let repository: string;

  beforeAll(async () => {
    repository = await feedbackRepository();
  });

  afterAll(async () => {
    if (repository) await rm(repository, { recursive: true, force: true });
  });

  it('keeps the last keepPredictions.count; older ones are ERR_PREDICTION_NOT_FOUND', async () => {
    const client = await createEmbeddedClient({
      repository,
      models: ['iris'],
      keepPredictions: { count: 2, ageSeconds: 3600 },
    });
    try {
      const ids: string[] = [];
      for (const row of FLOWERS.slice(0, 3))
        ids.push((await client.predict('iris', { features: [row] })).jobId);
      const [oldest, ...recent] = ids as [string, string, string];
      await expect(client.feedback(oldest, { label: 0 })).rejects.toMatchObject({
        code: 'ERR_PREDICTION_NOT_FOUND',
        details: { id: oldest, model: 'iris' },
      });
      for (const id of recent) await client.feedback(id, { label: 0 });
      // Counts outlive the predictions they came from.
      await client.predict('iris', FLOWER);
      await client.predict('iris', FLOWER);
      await expect(client.feedback(recent[0], { label: 0 })).rejects.toMatchObject({
        code: 'ERR_PREDICTION_NOT_FOUND',
      });
      const window = (await client.accuracy('iris')).versions[0]?.windows['5m'];
      expect(window?.labelled).toBe(2);
    } finally {
      await client.close();
    }
  }, 60_000);

  it('drops predictions older than keepPredictions.ageSeconds, and keeps none for count 0', async () => {
    const aged = await createEmbeddedClient({
      repository,
      models: ['iris'],
      keepPredictions: { count: 100, ageSeconds: 0 },
    });
    const none = await createEmbeddedClient({
      repository,
      models: ['iris'],
      keepPredictions: { count: 0, ageSeconds: 3600 },
    });
    try {
      const first = await aged.predict('iris', FLOWER);
      // Older than 0 s once the clock has moved on by a millisecond.
      await sleep(5);
      await expect(aged.feedback(first.jobId, { label: 2 })).rejects.toMatchObject({
        code: 'ERR_PREDICTION_NOT_FOUND',
      });
      const other = await none.predict('iris', FLOWER);
      await expect(none.feedback(other.jobId, { label: 2 })).rejects.toMatchObject({
        code: 'ERR_PREDICTION_NOT_FOUND',
      });
    } finally {
      await Promise.all([aged.close(), none.close()]);
    }
  }, 60_000);

  it('keeps at most keepPredictions.maxBytes of outputs, and no prediction larger than that', async () => {
    // An iris row's output is 3 float32 probabilities: 12 bytes.
    const client = await createEmbeddedClient({
      repository,
      models: ['iris'],
      keepPredictions: { count: 100, ageSeconds: 3600, maxBytes: 24 },
    });
    try {
      const ids: string[] = [];
      for (const row of FLOWERS.slice(0, 3))
        ids.push((await client.predict('iris', { features: [row] })).jobId);
      const notFound = { code: 'ERR_PREDICTION_NOT_FOUND' };
      await expect(client.feedback(ids[0]!, { label: 0 })).rejects.toMatchObject(notFound);
      for (const id of ids.slice(1)) await client.feedback(id, { label: 0 });
      const large = await client.predict('iris', { features: FLOWERS.slice(0, 3) });
      await expect(client.feedback(large.jobId, { label: [0, 0, 0] })).rejects.toMatchObject(
        notFound,
      );
      // It pushed out none of the others: their first receipts still answer.
      const again = await client.feedback(ids[2]!, { label: 0 });
      expect(again).toMatchObject({ id: ids[2], rows: 1 });
    } finally {
      await client.close();
    }
  }, 60_000);

  it('refuses a bad keepPredictions with ERR_VALIDATION', async () => {
    await expect(
      createEmbeddedClient({ repository, keepPredictions: { count: -1, ageSeconds: 1 } }),
    ).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
  });
});
