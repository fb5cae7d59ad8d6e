import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { toRows } from '@conveyor/shared';
import { runCli } from '../../apps/cli/test/support.js';
import { startProducer, testConfig, type TestProducer } from '../../apps/producer/test/support.js';
import { irisReference } from '../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { MODELS, startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.3, 3.3, 6.0, 2.5],
];
const LINE = { x: { data: new Float32Array(3 * 48 * 192).fill(0.5), shape: [1, 3, 48, 192] } };

const expectIris = (probabilities: Parameters<typeof toRows>[0] | undefined) => {
  const expected = irisReference(ROWS);
  toRows(probabilities!).forEach((row, r) =>
    row.forEach((p, c) => expect(p).toBeCloseTo(expected[r]![c]!, 6)),
  );
};

describe('a repository whose model folders hold only model.onnx', () => {
  const prefix = uniquePrefix();
  let root: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: ConveyorClient;
  let producer: TestProducer;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'conveyor-bare-'));
    for (const model of ['iris', 'text-direction']) {
      await mkdir(join(root, model, '1'), { recursive: true });
      await copyFile(join(MODELS, model, '1', 'model.onnx'), join(root, model, '1', 'model.onnx'));
    }
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: root });
    client = await createClient({ redisUrl, prefix });
    producer = await startProducer(testConfig(redisUrl, prefix, { MODEL_REPOSITORY: root }));
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await client?.close();
    await worker?.close();
    await rm(root, { recursive: true, force: true });
    await dropPrefix(redisUrl, prefix);
  });

  it('is served through the queue with the signatures onnxruntime reports', async () => {
    const models = await client.models();
    expect(models.map((m) => `${m.name}@${m.version}:${m.state}`).sort()).toEqual([
      'iris@1:ready',
      'text-direction@1:ready',
    ]);
    const iris = await client.predict('iris', { features: ROWS });
    expectIris(iris.outputs.probabilities);
    const direction = await client.predict('text-direction', LINE);
    expect(direction.outputs['softmax_0.tmp_0']?.shape).toEqual([1, 2]);
  });

  it('is served in-process by the embedded client alike', async () => {
    const embedded = await createEmbeddedClient({ repository: root });
    try {
      expectIris((await embedded.predict('iris', { features: ROWS })).outputs.probabilities);
    } finally {
      await embedded.close();
    }
  });

  it('is served over HTTP (Open Inference Protocol v2)', async () => {
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: {
        inputs: [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: ROWS.flat() }],
      },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ model_version: string; outputs: { data: number[] }[] }>();
    expect(body.model_version).toBe('1');
    expect(body.outputs[0]?.data).toHaveLength(6);
  });

  it('is served by the command line, in-process and through the queue', async () => {
    const env = { MODEL_REPOSITORY: root, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix };
    const input = JSON.stringify({ features: [ROWS[0]] });
    for (const where of [['--embedded'], []]) {
      const run = await runCli(['predict', 'iris', '--input', input, ...where], { env });
      expect(run.code, run.stderr).toBe(0);
      const body = JSON.parse(run.stdout) as { version: string; outputs: unknown };
      expect(body.version).toBe('1');
    }
  });
});
