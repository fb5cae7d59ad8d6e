import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { isConveyorError } from '@conveyor/shared';
import { uniquePrefix } from '../support/prefix.js';
import { MODELS, spawnWorker, type WorkerProcess } from '../support/workers.js';
import { recordScenario } from './summary.js';
import { startPersistentRedis, type PersistentRedis } from './support.js';
import { valueInfo } from '../../scripts/lib/onnx-graph.js';

const { onnx } = onnxProto;

/**
 * `wide`: x [batch, k] MatMul a constant 4x2 weight. model.json leaves k free, so a request with
 * k != 4 passes every check before the run and makes onnxruntime fail at run time.
 */
function wideModel(): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'wide',
      input: [valueInfo('x', ['batch', 'k'])],
      output: [valueInfo('y', ['batch', 2])],
      initializer: [
        { name: 'w', dims: [4, 2], dataType: FLOAT, floatData: [1, 0, 0, 1, 1, 0, 0, 1] },
      ],
      node: [{ opType: 'MatMul', input: ['x', 'w'], output: ['y'], name: 'matmul' }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

async function repository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-chaos-models-'));
  await cp(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
  await mkdir(join(root, 'wide', '1'), { recursive: true });
  await writeFile(join(root, 'wide', '1', 'model.onnx'), wideModel());
  await writeFile(
    join(root, 'wide', '1', 'model.json'),
    JSON.stringify({
      name: 'wide',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, -1] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
    }),
  );
  // A corrupt file: the first bytes of a real model, cut short, then garbage.
  await mkdir(join(root, 'broken', '1'), { recursive: true });
  await writeFile(
    join(root, 'broken', '1', 'model.onnx'),
    Buffer.concat([Buffer.from(wideModel()).subarray(0, 40), Buffer.alloc(64, 0xff)]),
  );
  await writeFile(
    join(root, 'broken', '1', 'model.json'),
    JSON.stringify({
      name: 'broken',
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2] }],
    }),
  );
  return root;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isConveyorError(error) ? error.code : String(error);
  }
}

describe('a model that fails at run time and a corrupt model file', () => {
  const prefix = uniquePrefix();
  let redis: PersistentRedis;
  let root: string;
  let worker: WorkerProcess;
  let client: ConveyorClient;

  beforeAll(async () => {
    [redis, root] = await Promise.all([startPersistentRedis('everysec'), repository()]);
    worker = await spawnWorker(redis.url, prefix, { MODEL_REPOSITORY: root });
    client = await createClient({ redisUrl: redis.url, prefix });
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await client?.close();
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('fails each bad job with its code while the worker stays up and the other models keep serving', async () => {
    // The corrupt model is logged with its code and not served; the others are.
    const notServed = worker.logs.find((r) => r.msg === 'model not served');
    expect(notServed).toMatchObject({ model: 'broken', code: 'ERR_MODEL_UNAVAILABLE' });
    expect(worker.logs.find((r) => r.msg === 'worker ready')?.models).toEqual(['iris', 'wide']);
    expect(await codeOf(client.predict('broken', { x: [[1, 2, 3, 4]] }))).toBe(
      'ERR_MODEL_NOT_FOUND',
    );

    // Bad runs mixed with good ones, on both models.
    const bad = Array.from({ length: 10 }, () =>
      codeOf(client.predict('wide', { x: { data: new Float32Array(3), shape: [1, 3] } })),
    );
    const goodWide = Array.from({ length: 10 }, () =>
      client.predict('wide', { x: { data: new Float32Array([1, 2, 3, 4]), shape: [1, 4] } }),
    );
    const iris = Array.from({ length: 20 }, () =>
      client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] }),
    );
    const codes = await Promise.all(bad);
    expect(codes).toEqual(Array(10).fill('ERR_INFERENCE_FAILED'));
    for (const p of await Promise.all(goodWide))
      expect([...(p.outputs.y?.data ?? [])]).toEqual([4, 6]);
    for (const p of await Promise.all(iris)) expect(p.outputs.probabilities?.shape).toEqual([1, 3]);

    expect(worker.child.exitCode).toBeNull();
    // The worker's log lines arrive through a pipe, possibly after the clients saw the failures.
    await expect.poll(() => worker.logs.filter((r) => r.msg === 'job failed').length).toBe(10);
    const failedLogs = worker.logs.filter((r) => r.msg === 'job failed');
    expect(failedLogs.every((r) => r.code === 'ERR_INFERENCE_FAILED')).toBe(true);

    recordScenario({
      scenario: 'model fails at run time; corrupt model',
      faults: '10 jobs with a shape MatMul rejects; a truncated model.onnx',
      submitted: 41,
      completed: 41,
      lost: 0,
      duplicated: 0,
      note: 'bad jobs fail with ERR_INFERENCE_FAILED (not retried), the corrupt model is ERR_MODEL_NOT_FOUND to clients; 30 good jobs served',
    });
  });
});
