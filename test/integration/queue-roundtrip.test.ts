import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '@conveyor/engine';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { queueName, toNumbers, toRows, toTensors, queuePrefix } from '@conveyor/shared';
import { Queue } from 'bullmq';
import { irisReference } from '../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { MODELS, spawnWorker, type WorkerProcess } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

/** A deterministic 48x192 RGB "text line": dark strokes on a light band, normalised as PP-OCR expects. */
function syntheticLine(seed: number): Float32Array {
  const data = new Float32Array(3 * 48 * 192);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 48; y++)
      for (let x = 0; x < 192; x++) {
        const ink = y > 12 && y < 36 && (x * 7 + y * seed) % 23 < 6;
        data[c * 48 * 192 + y * 192 + x] = ink ? -0.9 : 0.9;
      }
  return data;
}

describe('SDK to Redis to a worker process to onnxruntime and back', () => {
  let worker: WorkerProcess;
  let client: ConveyorClient;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix);
    client = await createClient({ redisUrl, prefix });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('announces every model of the repository, with the signatures onnxruntime reports', async () => {
    const models = await client.models();
    expect(models.map((m) => `${m.name}@${m.version}`).sort()).toEqual([
      'iris@1',
      'ocr@1',
      'sentiment@1',
      'text-direction-image@1',
      'text-direction@1',
    ]);
    const direction = models.find((m) => m.name === 'text-direction')!;
    expect(direction.inputs).toEqual([
      expect.objectContaining({ name: 'x', dtype: 'float32', shape: [-1, 3, 48, 192] }),
    ]);
    expect(models.every((m) => m.workers === 1)).toBe(true);
  });

  it('returns iris probabilities equal to the independent TypeScript computation within 1e-6', async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [7.0, 3.2, 4.7, 1.4],
      [6.3, 3.3, 6.0, 2.5],
      [0, 0, 0, 0],
    ];
    const prediction = await client.predict('iris', { features: rows });
    expect(prediction.model).toBe('iris');
    expect(prediction.version).toBe('1');
    const probabilities = prediction.outputs.probabilities!;
    expect(probabilities.dtype).toBe('float32');
    expect(probabilities.shape).toEqual([4, 3]);
    const actual = toRows(probabilities);
    irisReference(rows).forEach((row, r) =>
      row.forEach((p, c) => expect(Math.abs(actual[r]![c]! - p)).toBeLessThan(1e-6)),
    );
  });

  it('accepts a typed array with a shape as input', async () => {
    const data = new Float32Array([5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6.0, 2.5]);
    const { outputs } = await client.predict('iris', { features: { data, shape: [2, 4] } });
    const expected = irisReference([
      [5.1, 3.5, 1.4, 0.2],
      [6.3, 3.3, 6.0, 2.5],
    ]).flat();
    toNumbers(outputs.probabilities!).forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 6));
  });

  it('runs the shipped text-direction classifier with the same outputs as onnxruntime in-process', async () => {
    const batch = new Float32Array(2 * 3 * 48 * 192);
    batch.set(syntheticLine(3), 0);
    batch.set(syntheticLine(5), 3 * 48 * 192);
    const queued = await client.predict('text-direction', {
      x: { data: batch, shape: [2, 3, 48, 192] },
    });
    const engine = await createEngine({ repository: MODELS, models: ['text-direction'] });
    try {
      const local = await engine.predict({
        model: 'text-direction',
        inputs: toTensors({ x: { data: batch.slice(), shape: [2, 3, 48, 192] } }),
      });
      const output = queued.outputs['softmax_0.tmp_0']!;
      expect(output.shape).toEqual([2, 2]);
      expect(toNumbers(output)).toEqual(toNumbers(local.outputs['softmax_0.tmp_0']!));
      for (const row of toRows(output)) expect(row[0]! + row[1]!).toBeCloseTo(1, 5);
    } finally {
      await engine.close();
    }
  });

  it('enqueue returns a handle whose status and result follow the job', async () => {
    const handle = await client.enqueue('iris', { features: [[5.9, 3.0, 5.1, 1.8]] });
    // Ids are unique across models and name their model and version, so a job is found from its id alone.
    expect(handle.id).toMatch(/^iris\.1\.[0-9a-f-]{36}$/);
    const result = await handle.result();
    expect(result.jobId).toBe(handle.id);
    const status = await handle.status();
    expect(status.state).toBe('completed');
    expect(status.finishedAt).toBeGreaterThanOrEqual(status.enqueuedAt!);
    // Any client can read the result later by id.
    const again = await client.job(handle.id).result();
    expect(toNumbers(again.outputs.probabilities!)).toEqual(
      toNumbers(result.outputs.probabilities!),
    );
  });

  it('gives the same job for the same idempotency key', async () => {
    const first = await client.enqueue(
      'iris',
      { features: [[5, 3, 1, 0.2]] },
      { idempotencyKey: 'order-42' },
    );
    const second = await client.enqueue(
      'iris',
      { features: [[5, 3, 1, 0.2]] },
      { idempotencyKey: 'order-42' },
    );
    expect(second.id).toBe(first.id);
    const other = await client.enqueue(
      'iris',
      { features: [[5, 3, 1, 0.2]] },
      { idempotencyKey: 'order-43' },
    );
    expect(other.id).not.toBe(first.id);
  });

  it('cancels a job that no worker has taken, and refuses to cancel a finished one', async () => {
    const queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
    await queue.pause();
    try {
      const waiting = await client.enqueue('iris', { features: [[5, 3, 1, 0.2]] });
      expect((await waiting.status()).state).toBe('waiting');
      await waiting.cancel();
      expect((await waiting.status()).state).toBe('unknown');
      await expect(waiting.cancel()).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
    } finally {
      await queue.resume();
      await queue.close();
    }
    const done = await client.enqueue('iris', { features: [[5, 3, 1, 0.2]] });
    await done.result();
    await expect(done.cancel()).rejects.toMatchObject({
      code: 'ERR_JOB_NOT_CANCELLABLE',
      details: { state: 'completed' },
    });
  });

  it('enqueues many jobs in one call, in order, and refuses the whole call for one bad item', async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [7.0, 3.2, 4.7, 1.4],
      [6.3, 3.3, 6.0, 2.5],
    ];
    const handles = await client.enqueueMany(
      'iris',
      rows.map((row, i) => ({ inputs: { features: [row] }, idempotencyKey: `bulk-${i}` })),
    );
    expect(handles.map((h) => h.id)).toHaveLength(3);
    const results = await Promise.all(handles.map((h) => h.result()));
    const expected = irisReference(rows);
    results.forEach((result, i) =>
      toRows(result.outputs.probabilities!)[0]!.forEach((p, c) =>
        expect(p).toBeCloseTo(expected[i]![c]!, 6),
      ),
    );
    const again = await client.enqueueMany('iris', [
      { inputs: { features: [rows[0]!] }, idempotencyKey: 'bulk-0' },
    ]);
    expect(again[0]!.id).toBe(handles[0]!.id);

    await expect(
      client.enqueueMany('iris', [
        { inputs: { features: [rows[0]!] } },
        { inputs: { features: [[1, 2, 3]] } },
      ]),
    ).rejects.toMatchObject({ code: 'ERR_INPUT_SHAPE', details: { index: 1 } });
  });

  it('refuses an id that is not a Conveyor job id', () => {
    expect(() => client.job('42')).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    expect(() => client.job('../etc/passwd')).toThrow(
      expect.objectContaining({ code: 'ERR_VALIDATION' }),
    );
  });

  it('fails a job whose deadline has passed with ERR_DEADLINE_EXCEEDED instead of running it', async () => {
    const handle = await client.enqueue(
      'iris',
      { features: [[5, 3, 1, 0.2]] },
      { deadline: Date.now() - 1000 },
    );
    await expect(handle.result()).rejects.toMatchObject({ code: 'ERR_DEADLINE_EXCEEDED' });
    expect(await handle.status()).toMatchObject({
      state: 'failed',
      attemptsMade: 1,
      error: { code: 'ERR_DEADLINE_EXCEEDED' },
    });
  });

  it('only returns the outputs asked for', async () => {
    const { outputs } = await client.predict(
      'iris',
      { features: [[5, 3, 1, 0.2]] },
      { outputs: ['probabilities'] },
    );
    expect(Object.keys(outputs)).toEqual(['probabilities']);
  });
});
