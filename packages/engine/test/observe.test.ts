import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type InferenceRun } from '@conveyor/engine';
import { toTensors } from '@conveyor/shared';
import { MODELS } from './support/onnx-models.js';

const FEATURES = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];

describe('what an engine tells about its threads and runs', () => {
  let threads: Engine;
  let inline: Engine;
  const runs: InferenceRun[] = [];
  beforeAll(async () => {
    [threads, inline] = await Promise.all([
      createEngine({ repository: MODELS, models: ['iris'], onRun: (run) => runs.push(run) }),
      createEngine({ repository: MODELS, models: ['iris'], inlineBelowMs: 1000 }),
    ]);
  }, 60_000);
  afterAll(() => Promise.all([threads?.close(), inline?.close()]));

  it('answers a ping on the threads of every version served', async () => {
    const pings = await threads.ping(10_000);
    expect(pings).toEqual([
      {
        model: 'iris',
        version: threads.resolve('iris').entry.version,
        threads: 1,
        inline: false,
        answered: true,
        ms: expect.any(Number) as number,
      },
    ]);
  });

  it('answers a ping at once for a version on the calling thread', async () => {
    const [ping] = await inline.ping(10_000);
    expect(ping).toMatchObject({ model: 'iris', threads: 0, inline: true, answered: true });
  });

  it('reports each onnxruntime call that served requests, not the warm-up', async () => {
    expect(runs).toEqual([]);
    await threads.predict({ model: 'iris', inputs: toTensors({ features: FEATURES }) });
    expect(runs).toEqual([
      {
        model: 'iris',
        version: threads.resolve('iris').entry.version,
        rows: 2,
        ms: expect.any(Number) as number,
      },
    ]);
  });

  it('records how long each version took to load', () => {
    expect(threads.resolve('iris').loadMs).toBeGreaterThan(0);
  });
});
