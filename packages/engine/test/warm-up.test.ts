import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, inferredConfig, type Engine } from '@conveyor/engine';
import { createTensor, toNumbers } from '@conveyor/shared';
import { memoryLogger } from '../../../test/support/workers.js';
import { padReflectModel, tempRoot } from './support/onnx-models.js';

/** The pad model under `name`, with a model.json when one is given. */
async function padVersion(root: string, name: string, config?: unknown): Promise<void> {
  const dir = join(root, name, '1');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), padReflectModel());
  if (config !== undefined) await writeFile(join(dir, 'model.json'), JSON.stringify(config));
}

describe('warm-up', () => {
  let root: string;
  let engine: Engine;
  const { logger, records } = memoryLogger();

  beforeAll(async () => {
    root = await tempRoot('warm-up');
    await padVersion(root, 'bare');
    await padVersion(root, 'dims', { warmup: { dims: { samples: 16000 } } });
    await padVersion(root, 'sample', {
      warmup: {
        inputs: {
          x: {
            shape: [2, 3],
            data: [
              [1, 2, 3],
              [4, 5, 6],
            ],
          },
        },
      },
    });
    await padVersion(root, 'off', { warmup: false });
    await padVersion(root, 'wrong-sample', {
      warmup: { dims: { sampels: 4 }, inputs: { x: { shape: [4] }, y: { shape: [1, 4] } } },
    });
    engine = await createEngine({ repository: root, threads: 2, logger });
  }, 60_000);

  afterAll(async () => {
    await engine?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('marks a version degraded when the default sample fails, with the onnxruntime message and a hint', () => {
    const served = engine.resolve('bare');
    expect(served.state).toBe('degraded');
    expect(served.warmupMs).toBeUndefined();
    expect(served.stateReason).toContain('x [1, 1]');
    expect(served.stateReason).toContain('Pad reflect requires axis length >= 2');
    expect(served.stateReason).toContain(
      '"warmup": { "dims": { "batch": <size>, "samples": <size> } }',
    );
    expect(records).toContainEqual(
      expect.objectContaining({ msg: 'warm-up failed; serving the model degraded', model: 'bare' }),
    );
  });

  it('still serves a degraded version: real inputs decide', async () => {
    const { outputs } = await engine.predict({
      model: 'bare',
      inputs: { x: createTensor('float32', [1, 4], Float32Array.of(1, 2, 3, 4)) },
    });
    expect(toNumbers(outputs.y!)).toEqual([3, 2, 1, 2, 3, 4, 3, 2]);
  });

  it('warms up on the sizes model.json gives its symbolic dimensions, or on its sample', () => {
    for (const name of ['dims', 'sample']) {
      const served = engine.resolve(name);
      expect(served.state, name).toBe('ready');
      expect(served.stateReason, name).toBeUndefined();
      expect(served.warmupMs, name).toBeGreaterThan(0);
    }
    expect(inferredConfig(engine.resolve('dims')).warmup).toEqual({
      dims: { batch: 1, samples: 16000 },
    });
  });

  it('skips the warm-up run when model.json turns it off', () => {
    expect(engine.resolve('off')).toMatchObject({ state: 'ready', warmupMs: undefined });
  });

  it('refuses a sample that does not fit the model, listing each part', () => {
    const problem = engine.problems.find((p) => p.name === 'wrong-sample');
    expect(problem?.error.code).toBe('ERR_MODEL_UNAVAILABLE');
    expect(problem?.error.issues.map((i) => i.path)).toEqual([
      'model.json warmup.inputs.y',
      'model.json warmup.inputs.x.shape',
      'model.json warmup.dims.sampels',
    ]);
    expect(problem?.error.message).toContain('they are "batch", "samples"');
  });
});
