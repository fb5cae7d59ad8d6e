import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { MODELS, startInProcessWorker } from '../../../test/support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const config = (name: string) =>
  JSON.stringify({
    name,
    inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
  });

describe('a worker whose repository has a corrupt and a missing model', () => {
  let root: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: ConveyorClient;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'conveyor-worker-models-'));
    await cp(join(MODELS, 'iris'), join(root, 'iris'), { recursive: true });
    for (const name of ['corrupt', 'missing']) {
      await mkdir(join(root, name, '1'), { recursive: true });
      await writeFile(join(root, name, '1', 'model.json'), config(name));
    }
    await writeFile(join(root, 'corrupt', '1', 'model.onnx'), 'not an onnx file');
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: root });
    client = await createClient({ redisUrl, prefix });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await rm(root, { recursive: true, force: true });
  });

  it('logs each model it cannot serve with the model, its path and the code', () => {
    const notServed = worker.records.filter((r) => r.msg === 'model not served');
    expect(notServed.map((r) => [r.model, r.code]).sort()).toEqual([
      ['corrupt', 'ERR_MODEL_UNAVAILABLE'],
      ['missing', 'ERR_MODEL_UNAVAILABLE'],
    ]);
    for (const record of notServed) expect(String(record.path).startsWith(root)).toBe(true);
  });

  it('serves and announces the healthy model only', async () => {
    expect(worker.models).toEqual(['iris']);
    expect((await client.models()).map((m) => m.name)).toEqual(['iris']);
    const { outputs } = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
    expect(outputs.probabilities!.shape).toEqual([1, 3]);
    await expect(client.predict('corrupt', { x: [[1, 2]] })).rejects.toMatchObject({
      code: 'ERR_MODEL_NOT_FOUND',
    });
  });
});
