import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngine, openSession, type Engine, type PredictCall } from '@conveyor/engine';
import { SessionConfigSchema, createTensor, toNumbers, toTensors } from '@conveyor/shared';
import { textLine } from '../../../scripts/lib/text-line.js';
import { MODELS, padReflectModel, tempRoot } from './support/onnx-models.js';

const IRIS: PredictCall = {
  model: 'iris',
  inputs: toTensors({
    features: [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ],
  }),
};
const DIRECTION: PredictCall = {
  model: 'text-direction',
  inputs: toTensors({
    x: { data: textLine('INLINE'), shape: [1, 3, 48, 192] },
  }),
};

// Thresholds far from any real run time (a second, a nanosecond), so that the choice does not
// depend on the speed of the machine.
describe('versions on the calling thread (inlineBelowMs)', () => {
  let inline: Engine;
  let threads: Engine;
  beforeAll(async () => {
    [inline, threads] = await Promise.all([
      createEngine({ repository: MODELS, inlineBelowMs: 1000 }),
      createEngine({ repository: MODELS }),
    ]);
  }, 60_000);
  afterAll(() => Promise.all([inline?.close(), threads?.close()]));

  it('runs every version on its inference threads by default', () => {
    for (const name of ['iris', 'text-direction'])
      expect(threads.resolve(name).inline, name).toBeUndefined();
  });

  it('runs a version under the threshold on the calling thread', () => {
    for (const name of ['iris', 'text-direction'])
      expect(inline.resolve(name).inline, name).toBe(true);
  });

  it('gives the same outputs on the calling thread as on the inference threads', async () => {
    for (const call of [IRIS, DIRECTION]) {
      const [here, there] = await Promise.all([inline.predict(call), threads.predict(call)]);
      expect(Object.keys(here.outputs), call.model).toEqual(Object.keys(there.outputs));
      for (const [name, tensor] of Object.entries(there.outputs)) {
        expect(here.outputs[name]?.shape, name).toEqual(tensor.shape);
        expect(toNumbers(here.outputs[name]!), name).toEqual(toNumbers(tensor));
      }
    }
  });
});

// An inline version runs on the worker's main thread, where onnxruntime-node's run() waits for a
// turn of the event loop behind every other job's work: `runMs` and the batch sizer must not count it.
describe("a session's run time", () => {
  it("counts onnxruntime's run, not the wait for its turn of the event loop", async () => {
    const session = await openSession(
      join(MODELS, 'iris', '1', 'model.onnx'),
      SessionConfigSchema.parse({}),
    );
    let clock = 0;
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock);
    try {
      // Work queued before the call (another job's reply, say), a second long on this clock.
      setImmediate(() => {
        clock += 1000;
      });
      const { outputs, ms } = await session.run(IRIS.inputs, ['probabilities']);
      expect(outputs.probabilities?.shape).toEqual([2, 3]);
      expect(clock).toBe(1000);
      expect(ms).toBe(0);
    } finally {
      now.mockRestore();
      await session.release();
    }
  });
});

describe('a version above the threshold', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ repository: MODELS, models: ['iris'], inlineBelowMs: 1e-6 });
  }, 60_000);
  afterAll(() => engine?.close());

  it('stays on its inference threads and still predicts', async () => {
    expect(engine.resolve('iris').inline).toBeUndefined();
    const { outputs } = await engine.predict(IRIS);
    expect(outputs.probabilities?.shape).toEqual([2, 3]);
  });
});

describe('a run that throws on the calling thread', () => {
  let root: string;
  let engine: Engine;
  beforeAll(async () => {
    root = await tempRoot('inline');
    const dir = join(root, 'pad', '1');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.onnx'), padReflectModel());
    // Warmed up on rows long enough to pad, so the version is ready and chosen for the calling thread.
    await writeFile(join(dir, 'model.json'), JSON.stringify({ warmup: { dims: { samples: 8 } } }));
    engine = await createEngine({ repository: root, inlineBelowMs: 1000 });
  }, 60_000);
  afterAll(async () => {
    await engine?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('fails the call with ERR_INFERENCE_FAILED and keeps serving', async () => {
    expect(engine.resolve('pad').inline).toBe(true);
    // onnxruntime refuses to reflect-pad a row of one sample.
    const short = { x: createTensor('float32', [1, 1], Float32Array.of(1)) };
    await expect(engine.predict({ model: 'pad', inputs: short })).rejects.toMatchObject({
      code: 'ERR_INFERENCE_FAILED',
    });
    const good = { x: createTensor('float32', [1, 4], Float32Array.of(1, 2, 3, 4)) };
    const { outputs } = await engine.predict({ model: 'pad', inputs: good });
    expect(toNumbers(outputs.y!)).toEqual([3, 2, 1, 2, 3, 4, 3, 2]);
  });

  it("releases the calling thread's session when the version is unloaded", async () => {
    await engine.unload('pad', '1');
    const good = { x: createTensor('float32', [1, 4], Float32Array.of(1, 2, 3, 4)) };
    await expect(engine.predict({ model: 'pad', inputs: good })).rejects.toMatchObject({
      code: 'ERR_MODEL_NOT_FOUND',
    });
  });
});
