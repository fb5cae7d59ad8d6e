import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createClient,
  type ConveyorClient,
  type PredictManyOptions,
  type PredictManyResult,
} from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { toNumbers } from '@conveyor/shared';
import { valueInfo } from '../../scripts/lib/onnx-graph.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { MODELS, spawnWorker } from '../support/workers.js';

const { onnx } = onnxProto;
const redisUrl = inject('redisUrl');

/** x [batch?, 4] MatMul a 4x2 weight; `batch` fixes the first dimension, or leaves it free. */
function matmulModel(name: string, batch: number | string, width: number | string): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name,
      input: [valueInfo('x', [batch, width])],
      output: [valueInfo('y', [batch, 2])],
      initializer: [
        { name: 'w', dims: [4, 2], dataType: FLOAT, floatData: [1, 0, 0, 1, 1, 0, 0, 1] },
      ],
      node: [{ opType: 'MatMul', input: ['x', 'w'], output: ['y'], name: 'matmul' }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

async function addModel(root: string, name: string, batch: number, width: number) {
  await mkdir(join(root, name, '1'), { recursive: true });
  await writeFile(
    join(root, name, '1', 'model.onnx'),
    matmulModel(name, batch === -1 ? 'batch' : batch, width === -1 ? 'k' : width),
  );
  await writeFile(
    join(root, name, '1', 'model.json'),
    JSON.stringify({
      name,
      inputs: [{ name: 'x', dtype: 'float32', shape: [batch, width] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [batch, 2] }],
    }),
  );
}

/** iris; `fixed` (first dimension 1); `wide` (width left free, so width 5 fails in onnxruntime). */
async function repository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-pack-'));
  await cp(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
  await addModel(root, 'fixed', 1, 4);
  await addModel(root, 'wide', -1, -1);
  return root;
}

const irisRow = (i: number) => [
  4 + (i % 40) / 10,
  2 + (i % 23) / 10,
  1 + (i % 61) / 10,
  (i % 25) / 10,
];

async function collect(iterator: AsyncIterable<PredictManyResult>): Promise<PredictManyResult[]> {
  const out: PredictManyResult[] = [];
  for await (const r of iterator) out.push(r);
  return out.sort((a, b) => a.index - b.index);
}

const ok = (r: PredictManyResult | undefined) => {
  if (r?.ok !== true) throw new Error(`expected success, got ${JSON.stringify(r)}`);
  return r.prediction;
};

describe.each(['embedded', 'queue'] as const)('predictMany with row packing (%s)', (kind) => {
  let root: string;
  let client: ConveyorClient;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    root = await repository();
    if (kind === 'embedded') {
      client = await createEmbeddedClient({ repository: root });
      stop = () => client.close();
    } else {
      const prefix = uniquePrefix();
      const worker = await spawnWorker(redisUrl, prefix, { MODEL_REPOSITORY: root });
      client = await createClient({ redisUrl, prefix });
      stop = async () => {
        await client.close();
        await worker.stop();
        await dropPrefix(redisUrl, prefix);
      };
    }
  });
  afterAll(async () => {
    await stop();
    await rm(root, { recursive: true, force: true });
  });

  const run = (model: string, items: unknown[], options: PredictManyOptions = {}) =>
    collect(client.predictMany(model, items as never, options));

  it('gives every row the outputs it gets unpacked, from fewer jobs', async () => {
    const items = Array.from({ length: 300 }, (_, i) => ({ features: [irisRow(i)] }));
    const packed = await run('iris', items);
    const alone = await run('iris', items, { pack: false });
    expect(packed.map((r) => r.index)).toEqual([...items.keys()]);
    for (const [i, r] of packed.entries()) {
      const own = ok(r).outputs.probabilities;
      expect(own?.shape).toEqual([1, 3]);
      const expected = toNumbers(ok(alone[i]).outputs.probabilities!);
      toNumbers(own!).forEach((v, j) => expect(v).toBeCloseTo(expected[j]!, 6));
    }
    expect(new Set(packed.map((r) => ok(r).jobId)).size).toBeLessThan(items.length / 10);
    expect(new Set(alone.map((r) => ok(r).jobId)).size).toBe(items.length);
  });

  it('packs named feature rows and multi-row items, yielding in order', async () => {
    const named = (row: number[]) => ({
      sepal_length: row[0],
      sepal_width: row[1],
      petal_length: row[2],
      petal_width: row[3],
    });
    const items = [named(irisRow(1)), [named(irisRow(2)), named(irisRow(3))], named(irisRow(4))];
    const results: PredictManyResult[] = [];
    for await (const r of client.predictMany('iris', items as never, { ordered: true }))
      results.push(r);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(results.map((r) => ok(r).outputs.probabilities?.shape)).toEqual([
      [1, 3],
      [2, 3],
      [1, 3],
    ]);
  });

  it('fails only the bad row of a pack, with its own code', async () => {
    const items: unknown[] = Array.from({ length: 40 }, (_, i) => ({ features: [irisRow(i)] }));
    items[7] = { features: [[1, 2, 'x', 4]] };
    items[20] = { features: [[1, 2, 3]] };
    const results = await run('iris', items);
    const failed = results.filter((r) => !r.ok);
    expect(failed.map((r) => r.index)).toEqual([7, 20]);
    expect(failed.map((r) => (r.ok ? '' : r.error.code))).toEqual([
      expect.stringMatching(/^ERR_(INPUT_DTYPE|INPUT_VALUE|TENSOR_INVALID|VALIDATION)$/),
      'ERR_INPUT_SHAPE',
    ]);
    expect(new Set(results.filter((r) => r.ok).map((r) => ok(r).jobId)).size).toBeLessThan(38);
  });

  it('runs the rows of a pack that fails in onnxruntime one by one, each with its error', async () => {
    const items = Array.from({ length: 6 }, () => ({ x: [[1, 2, 3, 4, 5]] }));
    const results = await run('wide', items);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(
      Array(6).fill('ERR_INFERENCE_FAILED'),
    );
  });

  it('falls back to one job per row for a model whose batch dimension is fixed', async () => {
    const items = Array.from({ length: 20 }, (_, i) => ({ x: [[i, 1, 2, 3]] }));
    const results = await run('fixed', items);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => toNumbers(ok(r).outputs.y!))).toEqual(
      items.map((_, i) => [i + 2, 4]),
    );
    expect(new Set(results.map((r) => ok(r).jobId)).size).toBe(20);
  });

  it('finds the same packed jobs when run again under the same key prefix', async () => {
    const items = Array.from({ length: 600 }, (_, i) => ({ features: [irisRow(i)] }));
    const options = { idempotencyKeyPrefix: `pack-${kind}` };
    const ids = (rs: PredictManyResult[]) => rs.map((r) => ok(r).jobId);
    const first = await run('iris', items, options);
    const again = await run('iris', items, options);
    expect(ids(again)).toEqual(ids(first));
    expect(new Set(ids(first)).size).toBe(3);
  });
});
