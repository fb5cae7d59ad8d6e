import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, inferredConfig, type Engine } from '@conveyor/engine';
import { toRows, toTensors } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { textLine } from '../../../scripts/lib/text-line.js';
import { MODELS, bareCopy, tempRoot } from './support/onnx-models.js';

const FLOWERS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

function textLines(): Float32Array {
  const size = 3 * 48 * 192;
  const batch = new Float32Array(4 * size);
  ['CONVEYOR', 'STREAM'].forEach((word, i) => {
    batch.set(textLine(word, false), 2 * i * size);
    batch.set(textLine(word, true), (2 * i + 1) * size);
  });
  return batch;
}

describe('a repository of bare model.onnx files', () => {
  let root: string;
  let bare: Engine;
  let configured: Engine;

  beforeAll(async () => {
    root = await tempRoot('zero-config');
    await bareCopy(root, 'iris');
    await bareCopy(root, 'text-direction');
    [bare, configured] = await Promise.all([
      createEngine({ repository: root }),
      createEngine({ repository: MODELS }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([bare?.close(), configured?.close()]);
    await rm(root, { recursive: true, force: true });
  });

  it('serves every model with the signature onnxruntime reports, and no problem', () => {
    expect(bare.problems).toEqual([]);
    expect(bare.resolve('iris').signature).toEqual({
      name: 'iris',
      version: '1',
      inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }],
    });
    expect(bare.resolve('text-direction').signature).toMatchObject({
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, -1, -1] }],
      outputs: [{ name: 'softmax_0.tmp_0', dtype: 'float32', shape: [-1, 2] }],
    });
    expect(bare.resolve('iris').entry.configPath).toBeUndefined();
  });

  it('finds the batch axis of both, and warms them up', () => {
    for (const name of ['iris', 'text-direction']) {
      const served = bare.resolve(name);
      expect(served.batchable).toBe(true);
      expect(served.state).toBe('ready');
      expect(served.warmupMs).toBeGreaterThan(0);
    }
  });

  it('predicts what the configured repository predicts', async () => {
    for (const [model, inputs] of [
      ['iris', { features: FLOWERS }],
      ['text-direction', { x: { data: textLines(), shape: [4, 3, 48, 192] } }],
    ] as const) {
      const [a, b] = await Promise.all(
        [bare, configured].map((engine) => engine.predict({ model, inputs: toTensors(inputs) })),
      );
      const name = Object.keys(a!.outputs)[0]!;
      const got = toRows(a!.outputs[name]!);
      toRows(b!.outputs[name]!).forEach((row, r) =>
        row.forEach((p, c) => expect(got[r]![c]).toBeCloseTo(p, 6)),
      );
    }
    const { outputs } = await bare.predict({
      model: 'iris',
      inputs: toTensors({ features: FLOWERS }),
    });
    irisReference(FLOWERS).forEach((row, r) =>
      row.forEach((p, c) => expect(toRows(outputs.probabilities!)[r]![c]).toBeCloseTo(p, 6)),
    );
  });

  it('spells out what it does as a model.json that serves the same signature', async () => {
    const config = inferredConfig(bare.resolve('text-direction'));
    expect(config).toMatchObject({
      batching: { maxBatchSize: 32, maxDelayMs: 0 },
      warmup: {
        dims: {
          'p2o.DynamicDimension.0': 1,
          'p2o.DynamicDimension.1': 1,
          'p2o.DynamicDimension.2': 1,
        },
      },
    });
    const copy = await tempRoot('round-trip');
    try {
      await bareCopy(copy, 'text-direction');
      await writeFile(
        join(copy, 'text-direction', '1', 'model.json'),
        JSON.stringify(config, null, 2),
      );
      const engine = await createEngine({ repository: copy });
      try {
        const served = engine.resolve('text-direction');
        expect(served.signature).toEqual(bare.resolve('text-direction').signature);
        expect(served.batchable).toBe(true);
        expect(served.state).toBe('ready');
      } finally {
        await engine.close();
      }
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a partial model.json', () => {
  let root: string;
  let engine: Engine;

  beforeAll(async () => {
    root = await tempRoot('partial');
    const write = async (name: string, config: unknown) => {
      await bareCopy(root, 'iris', name);
      await writeFile(join(root, name, '1', 'model.json'), JSON.stringify(config));
    };
    await write('labelled', {
      outputs: [{ name: 'probabilities', labels: ['setosa', 'versicolor', 'virginica'] }],
    });
    await write('unbatched', { batching: false, description: 'one request per call' });
    await write('renamed', { name: 'another-name' });
    await mkdir(join(root, 'empty', '1'), { recursive: true });
    engine = await createEngine({ repository: root });
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('adds labels to the dtype and shape onnxruntime reports', () => {
    expect(engine.resolve('labelled').signature.outputs).toEqual([
      {
        name: 'probabilities',
        dtype: 'float32',
        shape: [-1, 3],
        labels: ['setosa', 'versicolor', 'virginica'],
      },
    ]);
  });

  it('turns batching off with batching: false', () => {
    const served = engine.resolve('unbatched');
    expect(served.batchable).toBe(false);
    expect(served.entry.config.description).toBe('one request per call');
  });

  it('refuses a name that differs from the folder, and a folder with no model file', () => {
    const problems = Object.fromEntries(engine.problems.map((p) => [p.name, p.error]));
    expect(problems.renamed).toMatchObject({ code: 'ERR_MODEL_CONFIG_INVALID' });
    expect(problems.renamed?.message).toContain('remove "name" or rename the folder');
    expect(problems.empty).toMatchObject({ code: 'ERR_MODEL_UNAVAILABLE' });
  });
});
