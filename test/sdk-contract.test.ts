import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '@conveyor/engine';
import {
  createClient,
  defineModel,
  type ConveyorClient,
  type ErrorCode,
  type JobEvent,
  type PredictManyResult,
} from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import {
  queueName,
  toNumbers,
  toRows,
  toTensors,
  type Tensor,
  queuePrefix,
} from '@conveyor/shared';
import { irisReference } from '../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from './support/prefix.js';
import { MODELS, spawnWorker } from './support/workers.js';

const redisUrl = inject('redisUrl');

/** One implementation of ConveyorClient, with what the shared cases need around it. */
interface Subject {
  client: ConveyorClient;
  /**
   * Stops jobs of a model from starting (a paused queue, a paused embedded table); returns the
   * release.
   */
  hold(model: string): Promise<() => Promise<void>>;
  /** Another client on the same backend whose jobs do not start, for the close() cases. */
  fresh(): Promise<ConveyorClient>;
  close(): Promise<void>;
}

const embedded = async (): Promise<Subject> => {
  const client = await createEmbeddedClient({ repository: MODELS, attempts: 2, backoffMs: 10 });
  return {
    client,
    hold: () => {
      client.pause();
      return Promise.resolve(() => Promise.resolve(client.resume()));
    },
    // Paused, as the queue's other client shares the held queue.
    async fresh() {
      const other = await createEmbeddedClient({ repository: MODELS, models: ['iris'] });
      other.pause();
      return other;
    },
    close: () => client.close(),
  };
};

const queued = async (): Promise<Subject> => {
  const prefix = uniquePrefix();
  const worker = await spawnWorker(redisUrl, prefix);
  const client = await createClient({ redisUrl, prefix, attempts: 2, backoffMs: 10 });
  return {
    client,
    async hold(model) {
      const queue = new Queue(queueName(model, '1'), {
        connection: { url: redisUrl },
        prefix: queuePrefix(prefix, queueName(model, '1')),
      });
      await queue.pause();
      return async () => {
        await queue.resume();
        await queue.close();
      };
    },
    fresh: () => createClient({ redisUrl, prefix }),
    async close() {
      await client.close();
      await worker.stop();
      await dropPrefix(redisUrl, prefix);
    },
  };
};

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [7.0, 3.2, 4.7, 1.4],
  [6.3, 3.3, 6.0, 2.5],
];
const GOOD = { features: [ROWS[0]!] };
const named = (row: readonly number[]) => ({
  sepal_length: row[0]!,
  sepal_width: row[1]!,
  petal_length: row[2]!,
  petal_width: row[3]!,
});

/** A deterministic 48x192 RGB "text line", normalised as PP-OCR expects. */
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
const LINES = new Float32Array(2 * 3 * 48 * 192);
LINES.set(syntheticLine(3), 0);
LINES.set(syntheticLine(5), 3 * 48 * 192);

function expectIris(probabilities: Tensor | undefined, rows: readonly (readonly number[])[]) {
  expect(probabilities?.dtype).toBe('float32');
  expect(probabilities?.shape).toEqual([rows.length, 3]);
  const actual = toRows(probabilities!);
  irisReference(rows).forEach((row, r) =>
    row.forEach((p, c) => expect(Math.abs(actual[r]![c]! - p)).toBeLessThan(1e-6)),
  );
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const value of iterable) all.push(value);
  return all;
}

/** The text-direction outputs of each implementation, compared once both have run. */
const directionOutputs = new Map<string, number[]>();
let directionReference: number[] = [];

beforeAll(async () => {
  const engine = await createEngine({ repository: MODELS, models: ['text-direction'] });
  try {
    const local = await engine.predict({
      model: 'text-direction',
      inputs: toTensors({ x: { data: LINES.slice(), shape: [2, 3, 48, 192] } }),
    });
    directionReference = toNumbers(local.outputs['softmax_0.tmp_0']!);
  } finally {
    await engine.close();
  }
}, 60_000);

describe.each([
  ['embedded', embedded],
  ['queue', queued],
] as const)('the %s client', (kind, factory) => {
  let subject: Subject;
  let client: ConveyorClient;

  beforeAll(async () => {
    subject = await factory();
    client = subject.client;
  }, 60_000);
  afterAll(async () => {
    await subject?.close();
  });

  it('predicts iris probabilities equal to the independent computation', async () => {
    const prediction = await client.predict('iris', { features: ROWS });
    expect(prediction).toMatchObject({ model: 'iris', version: '1' });
    expect(prediction.jobId).toMatch(/^iris\.1\.[0-9a-f-]{36}$/);
    expectIris(prediction.outputs.probabilities, ROWS);
    expect(prediction.timings.queuedMs).toBeGreaterThanOrEqual(0);
    expect(prediction.timings.inferenceMs).toBeGreaterThan(0);
  });

  it('predicts text-direction outputs equal to onnxruntime run directly', async () => {
    const { outputs } = await client.predict('text-direction', {
      x: { data: LINES, shape: [2, 3, 48, 192] },
    });
    const output = toNumbers(outputs['softmax_0.tmp_0']!);
    expect(output).toEqual(directionReference);
    directionOutputs.set(kind, output);
  });

  const badInputs: [string, (c: ConveyorClient) => Promise<unknown>, ErrorCode][] = [
    ['an invalid model name', (c) => c.predict('../etc/passwd', GOOD), 'ERR_VALIDATION'],
    ['an unknown option', (c) => c.predict('iris', GOOD, { colour: 1 } as never), 'ERR_VALIDATION'],
    ['no inputs', (c) => c.predict('iris', {}), 'ERR_VALIDATION'],
    // Strings are feature values now (for models with text inputs): "f" is not a feature of iris.
    [
      'a string under a name iris has no feature of',
      (c) => c.predict('iris', { f: 'x' }),
      'ERR_INPUT_UNEXPECTED',
    ],
    [
      'a string for a numeric feature',
      (c) =>
        c.predict('iris', {
          sepal_length: '5.1',
          sepal_width: 3.5,
          petal_length: 1.4,
          petal_width: 0.2,
        }),
      'ERR_TENSOR_INVALID',
    ],
    [
      'a ragged array',
      (c) => c.predict('iris', { features: [[1, 2, 3, 4], [1]] }),
      'ERR_TENSOR_INVALID',
    ],
    [
      'a typed array that does not fit its shape',
      (c) => c.predict('iris', { features: { data: new Float32Array(5), shape: [1, 4] } }),
      'ERR_TENSOR_INVALID',
    ],
    [
      'a shape of terabytes',
      (c) => c.predict('iris', { features: { data: new Float32Array(4), shape: [1e6, 1e6] } }),
      'ERR_TENSOR_TOO_LARGE',
    ],
    ['an unknown model', (c) => c.predict('no-such-model', GOOD), 'ERR_MODEL_NOT_FOUND'],
    [
      'an unknown version',
      (c) => c.predict('iris', GOOD, { version: '7' }),
      'ERR_MODEL_VERSION_NOT_FOUND',
    ],
    ['a missing input', (c) => c.predict('iris', { feature: [ROWS[0]!] }), 'ERR_INPUT_MISSING'],
    ['an extra input', (c) => c.predict('iris', { ...GOOD, extra: [1] }), 'ERR_INPUT_UNEXPECTED'],
    [
      'the wrong dtype',
      (c) => c.predict('iris', { features: { data: new Float64Array(4), shape: [1, 4] } }),
      'ERR_INPUT_DTYPE',
    ],
    ['the wrong shape', (c) => c.predict('iris', { features: [[1, 2, 3]] }), 'ERR_INPUT_SHAPE'],
    ['the wrong rank', (c) => c.predict('iris', { features: [1, 2, 3, 4] }), 'ERR_INPUT_SHAPE'],
    [
      'an unknown output',
      (c) => c.predict('iris', GOOD, { outputs: ['logits'] }),
      'ERR_OUTPUT_UNKNOWN',
    ],
    [
      'an unknown named feature',
      (c) => c.predict('iris', { ...named(ROWS[0]!), colour: 3 }),
      'ERR_INPUT_UNEXPECTED',
    ],
    [
      'a missing named feature',
      (c) => c.predict('iris', [named(ROWS[0]!), { sepal_length: 1 }]),
      'ERR_INPUT_MISSING',
    ],
    [
      'named features for a model without labels',
      (c) => c.predict('text-direction', { a: 1 }),
      'ERR_FEATURES_UNSUPPORTED',
    ],
    [
      'a bad idempotency key',
      (c) => c.predict('iris', GOOD, { idempotencyKey: 'has space' }),
      'ERR_VALIDATION',
    ],
  ];
  it.each(badInputs)('rejects %s with its code', async (_name, call, code) => {
    await expect(call(client)).rejects.toMatchObject({ name: 'ConveyorError', code });
  });

  it('names the feature and the row of a feature error', async () => {
    await expect(
      client.predict('iris', [named(ROWS[0]!), { ...named(ROWS[1]!), colour: 1 }]),
    ).rejects.toMatchObject({
      code: 'ERR_INPUT_UNEXPECTED',
      details: { feature: 'colour', row: 1, input: 'features' },
    });
  });

  it('maps named features (one row, or many) to the model input through its labels', async () => {
    const one = await client.predict('iris', named(ROWS[0]!));
    expectIris(one.outputs.probabilities, [ROWS[0]!]);
    const many = await client.predict('iris', ROWS.map(named));
    expectIris(many.outputs.probabilities, ROWS);
  });

  it('accepts a typed array with a shape', async () => {
    const data = new Float32Array(ROWS.flat());
    const { outputs } = await client.predict('iris', { features: { data, shape: [3, 4] } });
    expectIris(outputs.probabilities, ROWS);
  });

  it('types and checks a model definition', async () => {
    const iris = defineModel({
      name: 'iris',
      inputs: { features: 'float32' },
      outputs: { probabilities: 'float32' },
    });
    const { outputs } = await client.predict(iris, { features: [ROWS[0]!] });
    expect(outputs.probabilities.data).toBeInstanceOf(Float32Array);
    expectIris(outputs.probabilities, [ROWS[0]!]);
    const wrongDtype = defineModel({
      name: 'iris',
      inputs: { features: 'float64' },
      outputs: { probabilities: 'float32' },
    });
    await expect(client.predict(wrongDtype, { features: [ROWS[0]!] })).rejects.toMatchObject({
      code: 'ERR_INPUT_DTYPE',
    });
    const wrongOutput = defineModel({
      name: 'iris',
      inputs: { features: 'float32' },
      outputs: { logits: 'float32' },
    });
    await expect(client.predict(wrongOutput, { features: [ROWS[0]!] })).rejects.toMatchObject({
      code: 'ERR_OUTPUT_UNKNOWN',
    });
  });

  it('returns only the outputs asked for', async () => {
    const { outputs } = await client.predict('iris', GOOD, { outputs: ['probabilities'] });
    expect(Object.keys(outputs)).toEqual(['probabilities']);
  });

  it('fails a job whose deadline passed with ERR_DEADLINE_EXCEEDED', async () => {
    const handle = await client.enqueue('iris', GOOD, { deadline: Date.now() - 1000 });
    await expect(handle.result()).rejects.toMatchObject({ code: 'ERR_DEADLINE_EXCEEDED' });
    expect(await handle.status()).toMatchObject({
      state: 'failed',
      attemptsMade: 1,
      error: { code: 'ERR_DEADLINE_EXCEEDED' },
    });
    await expect(client.predict('iris', GOOD, { deadline: new Date(0) })).rejects.toMatchObject({
      code: 'ERR_DEADLINE_EXCEEDED',
    });
  });

  it('gives the same job for the same idempotency key', async () => {
    const key = `order-${kind}`;
    const first = await client.enqueue('iris', GOOD, { idempotencyKey: key });
    const second = await client.enqueue('iris', GOOD, { idempotencyKey: key });
    expect(second.id).toBe(first.id);
    expect((await second.result()).jobId).toBe(first.id);
    const other = await client.enqueue('iris', GOOD, { idempotencyKey: `${key}-b` });
    expect(other.id).not.toBe(first.id);
  });

  it('does not run again a finished job whose idempotency key comes back', async () => {
    const key = `once-${kind}`;
    const first = await client.enqueue('iris', GOOD, { idempotencyKey: key });
    const prediction = await first.result();
    const finished = await first.status();
    expect(finished).toMatchObject({ state: 'completed', attemptsMade: 1 });
    expect(finished.finishedAt).toEqual(expect.any(Number));
    // A re-run would start and finish at a later millisecond than the first run.
    await new Promise((resolve) => setTimeout(resolve, 5));

    const again = await client.enqueue('iris', GOOD, { idempotencyKey: key });
    expect(again.id).toBe(first.id);
    // Checked at once: a re-run would already have put the job back to waiting.
    expect(await again.status()).toEqual(finished);
    expect(await again.result()).toEqual(prediction);
    // The same start and finish, one attempt, the same timings: the model ran once.
    expect(await again.status()).toEqual(finished);
  });

  it('reports the status fields of a finished job', async () => {
    const handle = await client.enqueue('iris', GOOD);
    await handle.result();
    const status = await handle.status();
    expect(status).toMatchObject({ id: handle.id, model: 'iris', state: 'completed' });
    expect(status.attemptsMade).toBe(1);
    expect(status.error).toBeUndefined();
    expect(status.startedAt).toBeGreaterThanOrEqual(status.enqueuedAt!);
    expect(status.finishedAt).toBeGreaterThanOrEqual(status.startedAt!);
    expect((await client.job(handle.id).result()).jobId).toBe(handle.id);
  });

  it('cancels a waiting job (its waits end with ERR_JOB_NOT_FOUND), not a finished one', async () => {
    const release = await subject.hold('iris');
    try {
      const waiting = await client.enqueue('iris', GOOD);
      const prioritized = await client.enqueue('iris', GOOD, { priority: 1 });
      expect((await waiting.status()).state).toBe('waiting');
      expect((await prioritized.status()).state).toBe('prioritized');
      const wait = expect(waiting.result()).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
      await waiting.cancel();
      await wait;
      expect((await waiting.status()).state).toBe('unknown');
      await expect(waiting.cancel()).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
      await prioritized.cancel();
    } finally {
      await release();
    }
    const done = await client.enqueue('iris', GOOD);
    await done.result();
    await expect(done.cancel()).rejects.toMatchObject({
      code: 'ERR_JOB_NOT_CANCELLABLE',
      details: { state: 'completed' },
    });
  });

  it('stops waiting after timeoutMs with ERR_JOB_TIMEOUT and the job state', async () => {
    const release = await subject.hold('iris');
    try {
      const handle = await client.enqueue('iris', GOOD);
      await expect(handle.result({ timeoutMs: 200 })).rejects.toMatchObject({
        code: 'ERR_JOB_TIMEOUT',
        details: { jobId: handle.id, state: 'waiting' },
      });
      await handle.cancel();
    } finally {
      await release();
    }
  });

  it('streams a job state events from waiting to completed', async () => {
    const release = await subject.hold('iris');
    const handle = await client.enqueue('iris', GOOD);
    const events: JobEvent[] = [];
    const done = (async () => {
      for await (const event of handle.events()) {
        events.push(event);
        if (events.length === 1) await release();
      }
    })();
    await done;
    expect(events).toEqual([
      { type: 'state', state: 'waiting' },
      { type: 'state', state: 'active' },
      { type: 'state', state: 'completed' },
    ]);
  });

  it('enqueues many in order, and refuses the whole call for one bad item', async () => {
    const handles = await client.enqueueMany(
      'iris',
      ROWS.map((row) => ({ inputs: { features: [row] } })),
    );
    const results = await Promise.all(handles.map((h) => h.result()));
    results.forEach((r, i) => expectIris(r.outputs.probabilities, [ROWS[i]!]));
    await expect(
      client.enqueueMany('iris', [{ inputs: GOOD }, { inputs: { features: [[1, 2, 3]] } }]),
    ).rejects.toMatchObject({ code: 'ERR_INPUT_SHAPE', details: { index: 1 } });
  });

  it('predictMany yields every item once with its index, an error item included', async () => {
    const items = [
      ...ROWS.map((row) => ({ features: [row] })),
      { features: [[1, 2]] },
      named(ROWS[2]!),
    ];
    const results = await collect(client.predictMany('iris', items, { concurrency: 2 }));
    expect(results.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4]);
    const byIndex = new Map(results.map((r) => [r.index, r] as const));
    const failed = byIndex.get(3) as Extract<PredictManyResult, { ok: false }>;
    expect(failed).toMatchObject({ ok: false, error: { code: 'ERR_INPUT_SHAPE' } });
    for (const i of [0, 1, 2]) {
      const r = byIndex.get(i) as Extract<PredictManyResult, { ok: true }>;
      expectIris(r.prediction.outputs.probabilities, [ROWS[i]!]);
    }
    expect(byIndex.get(4)?.ok).toBe(true);
  });

  it('predictMany in order yields indexes in input order, from an async iterable', async () => {
    async function* rows() {
      for (let i = 0; i < 12; i++) {
        await Promise.resolve();
        yield { features: [ROWS[i % 3]!] };
      }
    }
    const results = await collect(
      client.predictMany('iris', rows(), { ordered: true, concurrency: 4 }),
    );
    expect(results.map((r) => r.index)).toEqual([...Array(12).keys()]);
    expect(results.every((r) => r.ok)).toBe(true);
    await expect(
      collect(client.predictMany('iris', [GOOD], { concurrency: 0 })),
    ).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
  });

  it('predictMany with a key prefix gives the same jobs when run again', async () => {
    const options = { ordered: true, idempotencyKeyPrefix: `run-${kind}`, pack: false };
    const first = await collect(client.predictMany('iris', [GOOD, GOOD], options));
    const again = await collect(client.predictMany('iris', [GOOD, GOOD], options));
    const ids = (rs: PredictManyResult[]) => rs.map((r) => (r.ok ? r.prediction.jobId : ''));
    expect(ids(again)).toEqual(ids(first));
    expect(new Set(ids(first)).size).toBe(2);
  });

  it('finds a job by id, refuses ids that are not job ids, and knows no unknown id', async () => {
    expect(() => client.job('42')).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
    const unknown = client.job('iris.1.00000000-0000-4000-8000-000000000000');
    expect(await unknown.status()).toMatchObject({ state: 'unknown', model: 'iris' });
    await expect(unknown.result()).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
  });

  it('lists the models it serves', async () => {
    const models = await client.models();
    expect(models.map((m) => `${m.name}@${m.version}`).sort()).toEqual([
      'iris@1',
      'ocr@1',
      'sentiment@1',
      'text-direction-image@1',
      'text-direction@1',
    ]);
    expect(models.every((m) => m.workers >= 1)).toBe(true);
  });

  it('counts feedback once per prediction towards its version accuracy', async () => {
    const fiveMinutes = async () =>
      (await client.accuracy('iris')).versions.find((v) => v.version === '1')?.windows['5m'];
    const before = await fiveMinutes();
    const { jobId } = await client.predict('iris', { features: ROWS });
    const truth = [0, 1, 1];
    const expected = irisReference(ROWS).map((row) => row.indexOf(Math.max(...row)));
    const correct = expected.filter((cls, i) => cls === truth[i]).length;
    const receipt = await client.feedback(jobId, { label: truth });
    expect(receipt).toMatchObject({
      id: jobId,
      model: 'iris',
      version: '1',
      kind: 'label',
      rows: 3,
    });
    expect(receipt.correct).toBe(correct);
    expect(await client.feedback(jobId, { label: truth })).toEqual(receipt);
    await expect(client.feedback(jobId, { label: [2, 2, 2] })).rejects.toMatchObject({
      code: 'ERR_FEEDBACK_EXISTS',
    });
    await expect(
      client.feedback('iris.1.00000000-0000-4000-8000-000000000000', { label: 0 }),
    ).rejects.toMatchObject({ code: 'ERR_PREDICTION_NOT_FOUND' });
    await expect(client.feedback(jobId, { label: 'rose' })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
    const after = await fiveMinutes();
    expect((after?.labelled ?? 0) - (before?.labelled ?? 0)).toBe(3);
    expect((after?.correct ?? 0) - (before?.correct ?? 0)).toBe(correct);
  });

  it('reports no drift for a model without a baseline, and refuses a bad drift query', async () => {
    expect(await client.drift('iris')).toEqual({
      model: 'iris',
      windowMs: 3_600_000,
      versions: [],
    });
    await expect(client.drift('iris', { windowMs: 0 })).rejects.toMatchObject({
      code: 'ERR_VALIDATION',
    });
  });

  it('rejects waits in flight and every later call with ERR_CLOSED once closed', async () => {
    const other = await subject.fresh();
    const release = await subject.hold('iris');
    try {
      const handle = await other.enqueue('iris', GOOD);
      const wait = expect(handle.result()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
      await other.close();
      await wait;
      await expect(other.predict('iris', GOOD)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
      await expect(handle.status()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
      expect(() => other.job(handle.id)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
      await expect(other.models()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
      await other.close();
    } finally {
      await release();
    }
  });
});

describe('both clients', () => {
  it('gave the same text-direction outputs', () => {
    expect(directionOutputs.get('embedded')).toEqual(directionOutputs.get('queue'));
    expect(directionOutputs.size).toBe(2);
  });
});
