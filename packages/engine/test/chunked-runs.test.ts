import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type InferenceRun } from '@conveyor/engine';
import { createTensor, toNumbers, toTensors } from '@conveyor/shared';
import { valueInfo } from '../../../scripts/lib/onnx-graph.js';
import { MODELS, tempRoot } from './support/onnx-models.js';

const { onnx } = onnxProto;
/** The cap of every version here; requests are 10 times that. */
const CAP = 8;
const BIG = 10 * CAP;
const TABLE_ROWS = 10;

/** `lookup`: rows of a constant 10x2 table by int64 index; an index outside [-10, 9] fails the run. */
function lookupModel(): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'lookup',
      input: [valueInfo('idx', ['batch', 1], INT64)],
      output: [valueInfo('values', ['batch', 2], FLOAT)],
      initializer: [
        {
          name: 'table',
          dims: [TABLE_ROWS, 2],
          dataType: FLOAT,
          floatData: Array.from({ length: TABLE_ROWS * 2 }, (_, i) => i / 2),
        },
        { name: 'axes', dims: [1], dataType: INT64, int64Data: [1] },
      ],
      node: [
        { opType: 'Squeeze', input: ['idx', 'axes'], output: ['flat'], name: 'squeeze' },
        { opType: 'Gather', input: ['table', 'flat'], output: ['values'], name: 'gather' },
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** iris, lookup and sentiment (processing steps), capped at CAP rows a call, the size fixed. */
async function repository(): Promise<string> {
  const root = await tempRoot('conveyor-chunks-');
  const batching = { maxBatchSize: CAP, maxDelayMs: 0, adaptive: false };
  await mkdir(join(root, 'iris', '1'), { recursive: true });
  await cp(join(MODELS, 'iris', '1', 'model.onnx'), join(root, 'iris', '1', 'model.onnx'));
  const iris = JSON.parse(
    await readFile(join(MODELS, 'iris', '1', 'model.json'), 'utf8'),
  ) as Record<string, unknown>;
  await writeFile(join(root, 'iris', '1', 'model.json'), JSON.stringify({ ...iris, batching }));
  await mkdir(join(root, 'lookup', '1'), { recursive: true });
  await writeFile(join(root, 'lookup', '1', 'model.onnx'), lookupModel());
  await writeFile(
    join(root, 'lookup', '1', 'model.json'),
    JSON.stringify({
      name: 'lookup',
      inputs: [{ name: 'idx', dtype: 'int64', shape: [-1, 1] }],
      outputs: [{ name: 'values', dtype: 'float32', shape: [-1, 2] }],
      batching,
    }),
  );
  await cp(join(MODELS, 'sentiment'), join(root, 'sentiment'), { recursive: true });
  const sentiment = JSON.parse(
    await readFile(join(MODELS, 'sentiment', '1', 'model.json'), 'utf8'),
  ) as Record<string, unknown>;
  await writeFile(
    join(root, 'sentiment', '1', 'model.json'),
    JSON.stringify({ ...sentiment, batching }),
  );
  return root;
}

/** Deterministic pseudo-random iris rows. */
function irisRows(count: number, seed = 3): number[][] {
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

const lookup = (indices: number[]) => ({
  idx: createTensor('int64', [indices.length, 1], BigInt64Array.from(indices.map(BigInt))),
});

/** The same rows run one request per row: what a large request must answer, number for number. */
async function oneByOne(engine: Engine, rows: number[][]): Promise<number[]> {
  const outputs: number[] = [];
  for (const row of rows) {
    const outcome = await engine.predict({ model: 'iris', inputs: toTensors({ features: [row] }) });
    outputs.push(...toNumbers(outcome.outputs.probabilities!));
  }
  return outputs;
}

/**
 * Runs a large request twice (the first teaches the batcher the time of a call of CAP rows, until
 * which a hand-off carries one call) and checks the second: hand-offs fewer than its calls, calls
 * of at most CAP rows, outputs equal to one request per row.
 */
async function checkChunked(engine: Engine, runs: InferenceRun[]): Promise<void> {
  const rows = irisRows(BIG);
  const call = { model: 'iris', inputs: toTensors({ features: rows }) };
  await engine.predict(call);
  const before = engine.batchStats('iris');
  runs.length = 0;
  const outcome = await engine.predict({ ...call, inputs: toTensors({ features: rows }) });
  const after = engine.batchStats('iris');
  expect(after.runs - before.runs).toBe(BIG / CAP);
  expect(after.handoffs - before.handoffs).toBeLessThan(BIG / CAP);
  expect(runs.map((r) => r.rows)).toEqual(Array<number>(BIG / CAP).fill(CAP));
  expect(outcome.batch).toEqual({ rows: CAP, requests: 1 });
  expect(outcome.outputs.probabilities?.shape).toEqual([BIG, 3]);
  expect(toNumbers(outcome.outputs.probabilities!)).toEqual(await oneByOne(engine, rows));
}

describe('a request larger than maxBatchSize, run in chunks', () => {
  let root: string;
  let engine: Engine;
  let inline: Engine;
  const runs: InferenceRun[] = [];
  const inlineRuns: InferenceRun[] = [];

  beforeAll(async () => {
    root = await repository();
    [engine, inline] = await Promise.all([
      createEngine({ repository: root, onRun: (run) => runs.push(run) }),
      // A threshold far above any real run: iris runs on the calling thread.
      createEngine({
        repository: root,
        models: ['iris'],
        inlineBelowMs: 1000,
        onRun: (run) => inlineRuns.push(run),
      }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([engine?.close(), inline?.close()]);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('hands a thread several calls at once, none over the cap, with the outputs of single rows', async () => {
    await checkChunked(engine, runs);
  });

  it('does the same on the calling thread for an inline version', async () => {
    expect(inline.resolve('iris').inline).toBe(true);
    await checkChunked(inline, inlineRuns);
  });

  it('lets a request that arrives meanwhile run before the large one is done', async () => {
    // Enough rows that no hand-off of at most about 20 ms of calls can carry them all.
    const big = irisRows(100_000, 5);
    const small = irisRows(2, 9);
    const before = engine.batchStats('iris');
    const done: string[] = [];
    const bigCall = engine
      .predict({ model: 'iris', inputs: toTensors({ features: big }) })
      .then((outcome) => (done.push('big'), outcome));
    const smallCall = engine
      .predict({ model: 'iris', inputs: toTensors({ features: small }) })
      .then((outcome) => (done.push('small'), outcome));
    const [bigOutcome, smallOutcome] = await Promise.all([bigCall, smallCall]);
    expect(done).toEqual(['small', 'big']);
    expect(bigOutcome.outputs.probabilities?.shape).toEqual([100_000, 3]);
    expect(toNumbers(smallOutcome.outputs.probabilities!)).toEqual(await oneByOne(engine, small));
    expect(Math.max(...runs.map((r) => r.rows))).toBeLessThanOrEqual(CAP);
    // The large request did go in hand-offs of several calls.
    const after = engine.batchStats('iris');
    expect(after.handoffs - before.handoffs).toBeLessThan((after.runs - before.runs) / 2);
  });

  it('fails only the request whose chunk failed', async () => {
    const good = Array.from({ length: BIG }, (_, i) => i % TABLE_ROWS);
    await engine.predict({ model: 'lookup', inputs: lookup(good) });
    const before = engine.batchStats('lookup');
    // Row 75 is out of the table: the 10th call of the request fails.
    const bad = good.map((v, i) => (i === 75 ? 42 : v));
    const [failed, passed] = await Promise.allSettled([
      engine.predict({ model: 'lookup', inputs: lookup(bad) }),
      engine.predict({ model: 'lookup', inputs: lookup(good) }),
    ]);
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: 'ERR_INFERENCE_FAILED' } });
    expect(passed.status).toBe('fulfilled');
    if (passed.status !== 'fulfilled') return;
    expect(toNumbers(passed.value.outputs.values!)).toEqual(good.flatMap((v) => [v, v + 0.5]));
    // The bad request went in fewer hand-offs than calls: its failing call was one of several.
    expect(engine.batchStats('lookup').handoffs - before.handoffs).toBeLessThan(2 * (BIG / CAP));
  });

  it('keeps one call a hand-off for a version with processing steps', async () => {
    const texts = Array.from({ length: BIG }, (_, i) => (i % 2 ? 'I love this movie' : 'bad'));
    const call = () =>
      engine.predict({
        model: 'sentiment',
        inputs: { text: createTensor('string', [BIG], texts) },
        outputs: ['label'],
      });
    await call();
    const before = engine.batchStats('sentiment');
    const outcome = await call();
    const after = engine.batchStats('sentiment');
    expect(after.handoffs - before.handoffs).toBe(BIG / CAP);
    expect(after.runs - before.runs).toBe(BIG / CAP);
    expect(outcome.outputs.label?.data).toEqual(
      texts.map((_, i) => (i % 2 ? 'positive' : 'negative')),
    );
  });
});
