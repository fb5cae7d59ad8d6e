import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { toRows, toTensors } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { textLine } from '../../../scripts/lib/text-line.js';

const REPOSITORY = new URL('../../../models', import.meta.url).pathname;

describe('engine on the model repository', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ repository: REPOSITORY });
  }, 60_000);
  afterAll(() => engine.close());

  it('serves every model of the repository with no problems', () => {
    expect([...engine.models.keys()].sort()).toEqual([
      'iris',
      'ocr',
      'sentiment',
      'text-direction',
      'text-direction-image',
    ]);
    expect(engine.problems).toEqual([]);
  });

  it('computes iris probabilities equal to the plain TypeScript reference within 1e-6', async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
      [5.9, 3.0, 4.2, 1.5],
    ];
    const { outputs } = await engine.predict({
      model: 'iris',
      inputs: toTensors({ features: rows }),
    });
    const actual = toRows(outputs.probabilities!);
    irisReference(rows).forEach((row, r) =>
      row.forEach((p, c) => expect(actual[r]![c]).toBeCloseTo(p, 6)),
    );
  });

  it('refuses a bad call with a rejected promise, never a throw, and serves the next one', async () => {
    const features = toTensors({ features: [[5.1, 3.5, 1.4, 0.2]] });
    const calls = [
      { call: { model: 'ghost', inputs: features }, code: 'ERR_MODEL_NOT_FOUND' },
      {
        call: { model: 'iris', version: '9', inputs: features },
        code: 'ERR_MODEL_VERSION_NOT_FOUND',
      },
      {
        call: { model: 'iris', inputs: toTensors({ features: [[1, 2]] }) },
        code: 'ERR_INPUT_SHAPE',
      },
      { call: { model: 'iris', inputs: {} }, code: 'ERR_INPUT_MISSING' },
    ];
    for (const { call, code } of calls) {
      let refused: Promise<unknown> | undefined;
      expect(() => (refused = engine.predict(call))).not.toThrow();
      await expect(refused).rejects.toMatchObject({ code });
    }
    const { outputs } = await engine.predict({ model: 'iris', inputs: features });
    expect(outputs.probabilities?.shape).toEqual([1, 3]);
  });
});

describe('the shipped text-direction classifier', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ repository: REPOSITORY, models: ['text-direction'] });
  }, 60_000);
  afterAll(() => engine.close());

  it('tells an upright line of text from the same line rotated by 180 degrees', async () => {
    const words = ['CONVEYOR', 'CLEAR TEXT', 'STREAM'];
    const batch = new Float32Array(words.length * 2 * 3 * 48 * 192);
    words.forEach((word, i) => {
      batch.set(textLine(word, false), 2 * i * 3 * 48 * 192);
      batch.set(textLine(word, true), (2 * i + 1) * 3 * 48 * 192);
    });
    const { outputs } = await engine.predict({
      model: 'text-direction',
      inputs: toTensors({ x: { data: batch, shape: [words.length * 2, 3, 48, 192] } }),
    });
    const rows = toRows(outputs['softmax_0.tmp_0']!);
    rows.forEach((row, i) => {
      const upright = row[0]! > 0.9;
      expect(upright).toBe(i % 2 === 0);
    });
  });
});
