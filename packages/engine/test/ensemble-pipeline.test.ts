import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { createTensor, type Tensor } from '@conveyor/shared';
import { MODELS, tempRoot } from './support/onnx-models.js';

// Two copies of the iris classifier (the repository's model, and a file of the pipeline's own
// folder) averaged, put side by side and maxed: every answer is worked out in the test from the
// iris model's own probabilities.
const ENSEMBLE = {
  description: 'Two iris classifiers, averaged.',
  pipeline: {
    kind: 'ensemble',
    inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 4] }],
    steps: [
      {
        name: 'a',
        model: { model: 'iris' },
        inputs: { features: 'input.features' },
        outputs: ['probabilities'],
      },
      { name: 'b', model: { file: 'copy.onnx' }, inputs: { features: 'input.features' } },
      {
        name: 'avg',
        combine: 'mean',
        from: ['a.probabilities', 'b.probabilities'],
        weights: [3, 1],
      },
      { name: 'both', combine: 'concat', from: ['a.probabilities', 'avg.output'] },
      { name: 'top', combine: 'max', from: ['a.probabilities', 'b.probabilities'] },
    ],
    outputs: [
      { name: 'probabilities', dtype: 'float32', shape: [-1, 3], from: 'avg.output' },
      { name: 'both', dtype: 'float32', shape: [-1, 6], from: 'both.output' },
      { name: 'top', dtype: 'float32', shape: [-1, 3], from: 'top.output' },
    ],
  },
};

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

async function version(root: string, name: string, json: unknown, onnx?: string): Promise<void> {
  const dir = join(root, name, '1');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  if (onnx) await copyFile(join(MODELS, 'iris', '1', 'model.onnx'), join(dir, onnx));
}

const floats = (t: Tensor | undefined) => [...(t?.data as Float32Array)];

describe('an ensemble pipeline', () => {
  let root: string;
  let engine: Engine;
  let iris: number[];
  const features = createTensor('float32', [ROWS.length, 4], Float32Array.from(ROWS.flat()));

  beforeAll(async () => {
    root = await tempRoot('ensemble');
    await mkdir(join(root, 'iris', '1'), { recursive: true });
    for (const file of ['model.onnx', 'model.json'])
      await copyFile(join(MODELS, 'iris', '1', file), join(root, 'iris', '1', file));
    await version(root, 'pair', ENSEMBLE, 'copy.onnx');
    const wrong = structuredClone(ENSEMBLE);
    wrong.pipeline.outputs = [{ ...ENSEMBLE.pipeline.outputs[0]!, shape: [-1, 4] }];
    await version(root, 'wrong', wrong, 'copy.onnx');
    engine = await createEngine({ repository: root, models: ['pair', 'wrong'] });
    const alone = await engine.predict({ model: 'iris', inputs: { features } });
    iris = floats(alone.outputs.probabilities);
  }, 60_000);
  afterAll(async () => {
    await engine.close();
    await rm(root, { recursive: true, force: true });
  });

  it('serves the models its steps call, and announces what it declares', () => {
    expect([...engine.models.keys()].sort()).toEqual(['iris', 'pair', 'wrong']);
    const { signature } = engine.resolve('pair');
    expect(signature.inputs).toEqual([{ name: 'features', dtype: 'float32', shape: [-1, 4] }]);
    expect(signature.outputs.map((o) => `${o.name} [${o.shape.join(', ')}]`)).toEqual([
      'probabilities [-1, 3]',
      'both [-1, 6]',
      'top [-1, 3]',
    ]);
  });

  it('runs the graph: weighted mean, side by side, maximum', async () => {
    const { outputs } = await engine.predict({ model: 'pair', inputs: { features } });
    // Both models are the same classifier: the weighted mean of two equal rows is the row.
    const mean = floats(outputs.probabilities);
    mean.forEach((p, i) => expect(p).toBeCloseTo(iris[i]!, 6));
    expect(outputs.both!.shape).toEqual([3, 6]);
    const both = floats(outputs.both);
    ROWS.forEach((_, r) => {
      for (let c = 0; c < 3; c++) {
        expect(both[r * 6 + c]).toBeCloseTo(iris[r * 3 + c]!, 6);
        expect(both[r * 6 + 3 + c]).toBeCloseTo(iris[r * 3 + c]!, 6);
      }
    });
    floats(outputs.top).forEach((p, i) => expect(p).toBeCloseTo(iris[i]!, 6));
  });

  it('checks requests against its declared inputs', async () => {
    const short = createTensor('float32', [1, 3], new Float32Array(3));
    await expect(
      engine.predict({ model: 'pair', inputs: { features: short } }),
    ).rejects.toMatchObject({ code: 'ERR_INPUT_SHAPE' });
  });

  it('fails a request whose answer is not what the pipeline declares, naming it', async () => {
    const failed = engine.predict({ model: 'wrong', inputs: { features } });
    await expect(failed).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG_INVALID' });
    await expect(failed).rejects.toThrow(
      'pipeline output "probabilities" is declared float32 [-1, 4]',
    );
  });
});
