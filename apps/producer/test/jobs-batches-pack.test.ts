import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import onnxProto from 'onnx-proto';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { FIRST_PACK_ROWS } from '@conveyor/sdk';
import { createLogger } from '@conveyor/shared';
import { valueInfo } from '../../../scripts/lib/onnx-graph.js';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type { BatchResultLine, BatchStatus } from '../src/jobs/batches-schemas.js';
import { irisInputs, modelQueue, ndjson, startJobsProducer } from './jobs-support.js';
import { MODELS, testConfig, type TestProducer } from './support.js';

const { onnx } = onnxProto;
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

/** Writes a model version: its ONNX graph and its model.json. */
async function addModel(root: string, name: string, graph: object, config: object) {
  await mkdir(join(root, name, '1'), { recursive: true });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: { name, ...graph },
  });
  await writeFile(join(root, name, '1', 'model.onnx'), onnx.ModelProto.encode(model).finish());
  await writeFile(join(root, name, '1', 'model.json'), JSON.stringify({ name, ...config }));
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
/** What `pick` gathers from: an index past 3 fails in onnxruntime, for its whole run. */
const PICKED = [10, 20, 30, 40];

/** iris; `fixed` (x [1, 4] MatMul w, first dimension fixed); `pick` (Gather of idx [-1]). */
async function repository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-batch-pack-'));
  await cp(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
  const w = { name: 'w', dims: [4, 2], dataType: FLOAT, floatData: [1, 0, 0, 1, 1, 0, 0, 1] };
  await addModel(
    root,
    'fixed',
    {
      input: [valueInfo('x', [1, 4])],
      output: [valueInfo('y', [1, 2])],
      initializer: [w],
      node: [{ opType: 'MatMul', input: ['x', 'w'], output: ['y'], name: 'matmul' }],
    },
    {
      inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [1, 2] }],
    },
  );
  const data = { name: 'data', dims: [4], dataType: FLOAT, floatData: PICKED };
  await addModel(
    root,
    'pick',
    {
      input: [valueInfo('idx', ['n'], INT64)],
      output: [valueInfo('y', ['n'])],
      initializer: [data],
      node: [{ opType: 'Gather', input: ['data', 'idx'], output: ['y'], name: 'gather' }],
    },
    {
      inputs: [{ name: 'idx', dtype: 'int64', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
    },
  );
  return root;
}

const irisRow = (i: number) => [
  4 + (i % 40) / 10,
  2 + (i % 23) / 10,
  1 + (i % 61) / 10,
  (i % 25) / 10,
];
/** Item i: one iris row, or two for every 25th item. */
const irisRows = (i: number) => (i % 25 === 3 ? [irisRow(i), irisRow(i + 1)] : [irisRow(i)]);

interface Created {
  batch_id: string;
  count: number;
  job_ids: string[];
  status_url: string;
  results_url: string;
}

const numbers = (line: BatchResultLine | undefined) =>
  (line?.outputs?.[0]?.data ?? []).map((v) => Number(v));

describe('batches pack rows into jobs (/v1 batch API, real worker)', () => {
  let root: string;
  let worker: WorkerService;
  let producer: TestProducer;
  let base: string;
  let iris: Queue;
  let redis: Redis;

  beforeAll(async () => {
    root = await repository();
    const config = testConfig(redisUrl, prefix, {
      MODEL_REPOSITORY: root,
      BATCH_MAX_ITEMS: '1000',
    });
    worker = await startWorkerService(config, silent);
    producer = await startJobsProducer(config);
    await producer.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(producer.app.server.address() as AddressInfo).port}`;
    iris = modelQueue(redisUrl, prefix, 'iris');
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  }, 60_000);

  afterEach(async () => {
    await iris.resume();
  });

  afterAll(async () => {
    redis?.disconnect();
    await iris?.close();
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await rm(root, { recursive: true, force: true });
  });

  const submit = async (model: string, items: unknown[]) => {
    const response = await producer.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/jobs:batch`,
      payload: { items },
    });
    expect(response.statusCode).toBe(202);
    return response.json<Created>();
  };
  const results = async (created: Created, query = '') =>
    ndjson<BatchResultLine>(
      (await producer.app.inject({ method: 'GET', url: `${created.results_url}${query}` })).body,
    );
  const status = async (created: Created) =>
    (await producer.app.inject({ method: 'GET', url: created.status_url })).json<BatchStatus>();
  const irisItems = (n: number, key?: string) =>
    Array.from({ length: n }, (_, i) => ({
      inputs: irisInputs(irisRows(i)),
      ...(key !== undefined && { idempotency_key: `${key}-${i}` }),
    }));

  it('gives each item its own rows of a packed job, equal to its results unpacked', async () => {
    const packed = await submit('iris', irisItems(300));
    // Items with their own idempotency key are never packed: the reference, one job per item.
    const alone = await submit('iris', irisItems(300, `alone-${randomUUID()}`));
    expect(packed.count).toBe(300);
    // A model's first batch packs FIRST_PACK_ROWS rows a job (one row an item here).
    expect(new Set(packed.job_ids).size).toBe(Math.ceil(300 / FIRST_PACK_ROWS));
    expect(new Set(alone.job_ids).size).toBe(300);

    const lines = await results(packed);
    const reference = await results(alone);
    expect(lines.map((l) => l.index)).toEqual([...Array(300).keys()]);
    expect(lines.map((l) => l.job_id)).toEqual(packed.job_ids);
    for (const [i, line] of lines.entries()) {
      expect(line.status).toBe('completed');
      expect(line.outputs?.[0]?.shape).toEqual([irisRows(i).length, 3]);
      const expected = numbers(reference[i]);
      numbers(line).forEach((v, j) => expect(v).toBeCloseTo(expected[j] ?? NaN, 6));
      const truth = irisReference(irisRows(i)).flat();
      numbers(line).forEach((v, j) => expect(Math.abs(v - (truth[j] ?? NaN))).toBeLessThan(1e-5));
    }
    expect(await status(packed)).toMatchObject({
      total: 300,
      finished: true,
      counts: { completed: 300, failed: 0, waiting: 0 },
    });
  });

  it('counts states per item and streams packed results in completion order', async () => {
    await iris.pause();
    const created = await submit('iris', irisItems(300));
    expect(await status(created)).toMatchObject({
      total: 300,
      finished: false,
      counts: { waiting: 300, completed: 0 },
    });
    const response = await fetch(`${base}${created.results_url}?order=completion`);
    expect(response.status).toBe(200);
    await iris.resume();
    const lines = ndjson<BatchResultLine>(await response.text());
    expect(lines.map((l) => l.index).sort((a, b) => a - b)).toEqual([...Array(300).keys()]);
    // A packed job's end writes its items' lines together.
    const runs = lines.filter((l, i) => i === 0 || lines[i - 1]?.job_id !== l.job_id).length;
    expect(runs).toBe(new Set(created.job_ids).size);
    for (const line of lines) {
      expect(line.job_id).toBe(created.job_ids[line.index]);
      const truth = irisReference(irisRows(line.index)).flat();
      numbers(line).forEach((v, j) => expect(Math.abs(v - (truth[j] ?? NaN))).toBeLessThan(1e-5));
    }
  });

  const pickItems = (indices: number[]) =>
    indices.map((idx) => ({ inputs: { idx: { shape: [1], datatype: 'INT64', data: [idx] } } }));
  const expectPicked = (lines: BatchResultLine[], indices: number[]) => {
    for (const line of lines) {
      const idx = indices[line.index] ?? 0;
      if (idx >= PICKED.length) {
        expect(line).toMatchObject({ status: 'failed', error: { code: 'ERR_INFERENCE_FAILED' } });
      } else {
        expect(line.status).toBe('completed');
        expect(numbers(line)).toEqual([PICKED[idx]]);
      }
    }
  };

  it('runs the items of a pack that failed for its data alone, so only the bad one fails', async () => {
    const indices = [0, 1, 9, 2, 3];
    for (const order of ['input', 'completion']) {
      const created = await submit('pick', pickItems(indices));
      expect(new Set(created.job_ids).size).toBe(1);
      const lines = await results(created, `?order=${order}`);
      expect(lines.map((l) => l.index).sort()).toEqual([0, 1, 2, 3, 4]);
      expectPicked(lines, indices);
      // Each item now has a job of its own, and the batch says so from now on.
      expect(new Set(lines.map((l) => l.job_id)).size).toBe(5);
      expect(lines.some((l) => l.job_id === created.job_ids[0])).toBe(false);
      expect(await status(created)).toMatchObject({
        total: 5,
        finished: true,
        counts: { completed: 4, failed: 1 },
      });
      expect(await results(created)).toEqual([...lines].sort((a, b) => a.index - b.index));
    }
  });

  it('unpacks a failed pack on a status read too', async () => {
    const indices = [3, 7, 1];
    const created = await submit('pick', pickItems(indices));
    // The packed job fails at once; its items run alone as the status read sees it.
    let counts: BatchStatus['counts'] | undefined;
    for (let tries = 0; tries < 100; tries += 1) {
      const read = await status(created);
      counts = read.counts;
      if (read.finished && counts.completed === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(counts).toMatchObject({ completed: 2, failed: 1 });
    expectPicked(await results(created), indices);
  });

  it('falls back to one job per item for a model whose batch dimension is fixed', async () => {
    const items = Array.from({ length: 5 }, (_, i) => ({ inputs: { x: [[i, 1, 2, 3]] } }));
    const created = await submit('fixed', items);
    expect(new Set(created.job_ids).size).toBe(5);
    const lines = await results(created);
    expect(lines.map((l) => numbers(l))).toEqual(items.map((_, i) => [i + 2, 4]));
  });

  it("keeps an item's own idempotency key naming exactly one job", async () => {
    const key = `once-${randomUUID()}`;
    const items = irisItems(4);
    const keyed = { ...items[1], idempotency_key: key };
    const first = await submit('iris', [items[0], keyed, items[2], items[3]]);
    expect(first.job_ids[2]).toBe(first.job_ids[3]);
    expect(new Set(first.job_ids).size).toBe(3);
    const again = await submit('iris', [items[2], keyed]);
    expect(again.job_ids[1]).toBe(first.job_ids[1]);
    expect((await results(again)).map((l) => l.status)).toEqual(['completed', 'completed']);
  });

  it('reads a batch stored before packing: one bare job id per item', async () => {
    const ids: string[] = [];
    for (const row of [irisRow(1), irisRow(2)]) {
      const response = await producer.app.inject({
        method: 'POST',
        url: '/v1/models/iris/jobs',
        payload: { inputs: irisInputs([row]) },
      });
      ids.push(response.json<{ job_id: string }>().job_id);
    }
    const batchId = `b-${randomUUID()}`;
    await redis.rpush(`${prefix}:batch:${batchId}`, ...ids);
    await redis.expire(`${prefix}:batch:${batchId}`, 60);
    const created = {
      batch_id: batchId,
      count: 2,
      job_ids: ids,
      status_url: `/v1/batches/${batchId}`,
      results_url: `/v1/batches/${batchId}/results`,
    };
    const lines = await results(created);
    expect(lines.map((l) => [l.index, l.job_id, l.status])).toEqual([
      [0, ids[0], 'completed'],
      [1, ids[1], 'completed'],
    ]);
    expect(await status(created)).toMatchObject({ total: 2, counts: { completed: 2 } });
  });
});
