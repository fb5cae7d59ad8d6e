import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { encodeTensor, newJobId, queueName, toRows, toTensor, queuePrefix } from '@conveyor/shared';
import { irisReference } from '../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

describe('one poison job among 100 good ones', () => {
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: ConveyorClient;
  let queue: Queue;

  beforeAll(async () => {
    worker = await startInProcessWorker(redisUrl, prefix, { WORKER_CONCURRENCY: '8' });
    client = await createClient({ redisUrl, prefix });
    queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
  }, 60_000);

  afterAll(async () => {
    await queue?.close();
    await client?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  it('fails the poison job with its code while all 100 good jobs complete with correct outputs', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => [
      4 + (i % 40) / 10,
      2 + (i % 20) / 10,
      1 + (i % 60) / 10,
      (i % 25) / 10,
    ]);
    const good = rows.slice(0, 50).map((row) => client.enqueue('iris', { features: [row] }));
    // The poison job bypasses the SDK's checks, as a buggy producer in another language would.
    const poison = queue.add(
      'predict',
      {
        v: 1,
        model: 'iris',
        inputs: { features: encodeTensor(toTensor('features', [[1, 2, 3, 4, 5, 6]])) },
      },
      { jobId: newJobId('iris', '1') },
    );
    good.push(...rows.slice(50).map((row) => client.enqueue('iris', { features: [row] })));
    const handles = await Promise.all(good);
    const poisonJob = await poison;

    const results = await Promise.allSettled(handles.map((h) => h.result()));
    const expected = irisReference(rows);
    results.forEach((result, i) => {
      expect(result.status).toBe('fulfilled');
      if (result.status !== 'fulfilled') return;
      const [actual] = toRows(result.value.outputs.probabilities!);
      expected[i]!.forEach((p, c) => expect(actual![c]).toBeCloseTo(p, 6));
    });

    const poisonHandle = client.job(String(poisonJob.id));
    await expect(poisonHandle.result()).rejects.toMatchObject({ code: 'ERR_INPUT_SHAPE' });
    expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 100, failed: 1 });
  });
});
