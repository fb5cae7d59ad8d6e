import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, jobsToHold, type Engine, type PredictOutcome } from '@conveyor/engine';
import { createTensor, toNumbers, toRows, toTensors } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { valueInfo } from '../../../scripts/lib/onnx-graph.js';

const { onnx } = onnxProto;
const MODELS = new URL('../../../models', import.meta.url).pathname;
const TABLE_ROWS = 10;

/**
 * `lookup`: Gather rows of a constant 10x2 table by int64 index. An index outside [-10, 9] passes
 * every signature check but makes onnxruntime fail at run time: a bad input that can only be
 * found by running it.
 */
function lookupModel(): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'lookup',
      input: [valueInfo('idx', ['batch', 1], INT64)],
      output: [valueInfo('values', ['batch', 1, 2], FLOAT)],
      initializer: [
        {
          name: 'table',
          dims: [TABLE_ROWS, 2],
          dataType: FLOAT,
          floatData: Array.from({ length: TABLE_ROWS * 2 }, (_, i) => i / 2),
        },
      ],
      node: [{ opType: 'Gather', input: ['table', 'idx'], output: ['values'], name: 'gather' }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

async function repository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-batching-'));
  await cp(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
  const irisConfig = JSON.parse(
    await readFile(join(MODELS, 'iris', '1', 'model.json'), 'utf8'),
  ) as Record<string, unknown>;
  // The same network with batching off, for side-by-side comparison.
  await mkdir(join(root, 'iris-single', '1'), { recursive: true });
  await cp(join(MODELS, 'iris', '1', 'model.onnx'), join(root, 'iris-single', '1', 'model.onnx'));
  await writeFile(
    join(root, 'iris-single', '1', 'model.json'),
    JSON.stringify({ ...irisConfig, name: 'iris-single', batching: { maxBatchSize: 1 } }),
  );
  // The same network with the batch dimension fixed at 1 in model.json: never batched.
  // A small batch limit and a long delay: a request waits for others until the limit is reached.
  await mkdir(join(root, 'iris-limit', '1'), { recursive: true });
  await cp(join(MODELS, 'iris', '1', 'model.onnx'), join(root, 'iris-limit', '1', 'model.onnx'));
  await writeFile(
    join(root, 'iris-limit', '1', 'model.json'),
    JSON.stringify({
      ...irisConfig,
      name: 'iris-limit',
      batching: { maxBatchSize: 8, maxDelayMs: 1_000 },
    }),
  );
  await mkdir(join(root, 'iris-fixed', '1'), { recursive: true });
  await cp(join(MODELS, 'iris', '1', 'model.onnx'), join(root, 'iris-fixed', '1', 'model.onnx'));
  await writeFile(
    join(root, 'iris-fixed', '1', 'model.json'),
    JSON.stringify({
      ...irisConfig,
      name: 'iris-fixed',
      inputs: [{ name: 'features', dtype: 'float32', shape: [1, 4] }],
      outputs: [{ name: 'probabilities', dtype: 'float32', shape: [1, 3] }],
    }),
  );
  await mkdir(join(root, 'lookup', '1'), { recursive: true });
  await writeFile(join(root, 'lookup', '1', 'model.onnx'), lookupModel());
  await writeFile(
    join(root, 'lookup', '1', 'model.json'),
    JSON.stringify({
      name: 'lookup',
      inputs: [{ name: 'idx', dtype: 'int64', shape: [-1, 1] }],
      outputs: [{ name: 'values', dtype: 'float32', shape: [-1, 1, 2] }],
      // A delay makes every request of a burst join one call, whatever the machine's speed.
      batching: { maxBatchSize: 64, maxDelayMs: 50 },
    }),
  );
  return root;
}

/** Deterministic pseudo-random iris rows. */
function rows(count: number, seed = 7): number[][] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: count }, () => [
    4 + next() * 4,
    2 + next() * 2.5,
    1 + next() * 6,
    next() * 2.5,
  ]);
}

describe('dynamic batching in the engine', () => {
  let root: string;
  let engine: Engine;
  const { logger, records } = memoryLogger();

  beforeAll(async () => {
    root = await repository();
    engine = await createEngine({ repository: root, logger });
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('batches only models whose inputs and outputs all have a free first dimension', () => {
    expect(engine.resolve('iris').batchable).toBe(true);
    expect(engine.resolve('lookup').batchable).toBe(true);
    expect(engine.resolve('iris-fixed').batchable).toBe(false);
  });

  it('holds a full call on each thread and the next one, per joined row', () => {
    // One inference thread each; iris joins up to 32 rows, lookup 64, the others one row a call.
    expect(jobsToHold(engine.resolve('iris'))).toBe(2 * 32);
    expect(jobsToHold(engine.resolve('lookup'))).toBe(2 * 64);
    expect(jobsToHold(engine.resolve('iris-fixed'))).toBe(2);
    expect(jobsToHold(engine.resolve('iris-single'))).toBe(2);
  });

  it('joins concurrent requests into shared calls whose outputs equal single runs', async () => {
    const input = rows(300);
    // Requests of 1 to 3 rows, all at once: most wait while the thread is busy and then join.
    const requests: number[][][] = [];
    for (let i = 0; i < input.length;) {
      const size = 1 + (i % 3);
      requests.push(input.slice(i, i + size));
      i += size;
    }
    const batched = await Promise.all(
      requests.map((r) => engine.predict({ model: 'iris', inputs: toTensors({ features: r }) })),
    );
    const single: PredictOutcome[] = [];
    for (const r of requests)
      single.push(
        await engine.predict({ model: 'iris-single', inputs: toTensors({ features: r }) }),
      );

    expect(batched.some((o) => o.batch.requests > 1)).toBe(true);
    expect(Math.max(...batched.map((o) => o.batch.rows))).toBeLessThanOrEqual(32);
    expect(single.every((o) => o.batch.requests === 1)).toBe(true);
    const expected = irisReference(input);
    let row = 0;
    batched.forEach((outcome, i) => {
      const got = toRows(outcome.outputs.probabilities!);
      const alone = toRows(single[i]!.outputs.probabilities!);
      expect(outcome.outputs.probabilities!.shape).toEqual([requests[i]!.length, 3]);
      got.forEach((probabilities, r) => {
        probabilities.forEach((p, c) => {
          expect(p).toBeCloseTo(alone[r]![c]!, 6);
          expect(p).toBeCloseTo(expected[row]![c]!, 6);
        });
        row += 1;
      });
    });
  });

  it('never joins more rows than maxBatchSize, even when more are waiting', async () => {
    // Six requests of 3 rows, submitted before any can run: the first flush happens when the third
    // arrives (9 rows waiting, over the limit of 8), and takes only the first two (6 rows).
    const requests = [0, 3, 6, 9, 12, 15].map((i) => rows(18, 11).slice(i, i + 3));
    const outcomes = await Promise.all(
      requests.map((r) =>
        engine.predict({ model: 'iris-limit', inputs: toTensors({ features: r }) }),
      ),
    );
    expect(outcomes[0]!.batch).toMatchObject({ requests: 2, rows: 6 });
    expect(outcomes[1]!.batch).toMatchObject({ requests: 2, rows: 6 });
    for (const outcome of outcomes) expect(outcome.batch.rows).toBeLessThanOrEqual(6);
    const expected = irisReference(requests.flat());
    outcomes.forEach((outcome, i) =>
      toRows(outcome.outputs.probabilities!).forEach((probabilities, r) =>
        probabilities.forEach((p, c) => expect(p).toBeCloseTo(expected[i * 3 + r]![c]!, 6)),
      ),
    );
  });

  it('fails a bad request alone while its batch-mates get their own outputs', async () => {
    const indices = [0, 3, 42, 9, -1, 7];
    const outcomes = await Promise.allSettled(
      indices.map((i) =>
        engine.predict({
          model: 'lookup',
          inputs: { idx: createTensor('int64', [1, 1], BigInt64Array.of(BigInt(i))) },
        }),
      ),
    );
    outcomes.forEach((outcome, n) => {
      const index = indices[n]!;
      if (index === 42) {
        expect(outcome).toMatchObject({
          status: 'rejected',
          reason: { code: 'ERR_INFERENCE_FAILED' },
        });
        return;
      }
      expect(outcome.status).toBe('fulfilled');
      if (outcome.status !== 'fulfilled') return;
      const row = (index + TABLE_ROWS) % TABLE_ROWS;
      expect(toNumbers(outcome.value.outputs.values!)).toEqual([row, row + 0.5]);
      expect(outcome.value.batch.requests).toBe(1);
    });
    // The good requests did first run joined with the bad one.
    expect(
      records.some((r) => r.msg === 'batched run failed; running its requests one by one'),
    ).toBe(true);
  });

  it('runs requests of a model with a fixed batch dimension one at a time', async () => {
    const outcomes = await Promise.all(
      rows(20).map((r) =>
        engine.predict({ model: 'iris-fixed', inputs: toTensors({ features: [r] }) }),
      ),
    );
    expect(outcomes.every((o) => o.batch.requests === 1 && o.batch.rows === 1)).toBe(true);
  });

  it('keeps requests that ask for different outputs or shapes out of each other’s calls', async () => {
    const [a, b] = await Promise.all([
      engine.predict({
        model: 'lookup',
        inputs: { idx: createTensor('int64', [2, 1], BigInt64Array.of(1n, 2n)) },
      }),
      engine.predict({
        model: 'lookup',
        inputs: { idx: createTensor('int64', [1, 1], BigInt64Array.of(3n)) },
      }),
    ]);
    expect(a.batch).toEqual({ rows: 3, requests: 2 });
    expect(toNumbers(a.outputs.values!)).toEqual([1, 1.5, 2, 2.5]);
    expect(toNumbers(b.outputs.values!)).toEqual([3, 3.5]);
  });

  it('warms every version up before serving, and says so', () => {
    for (const versions of engine.models.values())
      for (const v of versions) expect(v.warmupMs).toBeGreaterThan(0);
    const loaded = records.filter((r) => r.msg === 'model loaded');
    expect(loaded.map((r) => r.model).sort()).toEqual([
      'iris',
      'iris-fixed',
      'iris-limit',
      'iris-single',
      'lookup',
    ]);
  });
});
