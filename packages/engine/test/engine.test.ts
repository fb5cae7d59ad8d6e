import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { toRows, toTensors } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';

const REPOSITORY = new URL('../../../models', import.meta.url).pathname;

describe('engine on the model repository', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ repository: REPOSITORY });
  }, 60_000);
  afterAll(() => engine.close());

  it('serves both models of the repository with no problems', () => {
    expect([...engine.models.keys()].sort()).toEqual(['iris', 'text-direction']);
    expect(engine.problems).toEqual([]);
  });

  it('computes iris probabilities equal to the plain TypeScript reference within 1e-6', async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
      [5.9, 3.0, 4.2, 1.5],
    ];
    const { outputs } = await engine.predict({ model: 'iris', inputs: toTensors({ features: rows }) });
    const actual = toRows(outputs.probabilities!);
    irisReference(rows).forEach((row, r) => row.forEach((p, c) => expect(actual[r]![c]).toBeCloseTo(p, 6)));
  });
});
