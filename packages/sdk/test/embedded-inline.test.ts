import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedClient, type EmbeddedClient } from '@conveyor/sdk/embedded';
import { toNumbers } from '@conveyor/shared';
import { textLine } from '../../../scripts/lib/text-line.js';

const MODELS = new URL('../../../models', import.meta.url).pathname;
const IRIS = { features: [[5.1, 3.5, 1.4, 0.2]] };
const LINE = { x: { data: textLine('EMBEDDED'), shape: [1, 3, 48, 192] } };

describe('an embedded client running models on the calling thread', () => {
  let inline: EmbeddedClient;
  let threads: EmbeddedClient;
  beforeAll(async () => {
    [inline, threads] = await Promise.all([
      // A second: every shipped model is under it, whatever the speed of the machine.
      createEmbeddedClient({ repository: MODELS, inlineBelowMs: 1000 }),
      createEmbeddedClient({ repository: MODELS, inlineBelowMs: 0 }),
    ]);
  }, 60_000);
  afterAll(() => Promise.all([inline?.close(), threads?.close()]));

  it('predicts the same outputs as one that runs them on inference threads', async () => {
    for (const [model, inputs] of [
      ['iris', IRIS],
      ['text-direction', LINE],
    ] as const) {
      const [here, there] = await Promise.all([
        inline.predict(model, inputs),
        threads.predict(model, inputs),
      ]);
      expect(Object.keys(here.outputs), model).toEqual(Object.keys(there.outputs));
      for (const [name, tensor] of Object.entries(there.outputs))
        expect(toNumbers(here.outputs[name]!), name).toEqual(toNumbers(tensor));
    }
  });

  it('keeps a predicted job to read later, as the queue does', async () => {
    const prediction = await inline.predict('iris', IRIS);
    const job = inline.job(prediction.jobId);
    expect(await job.status()).toMatchObject({ state: 'completed', attemptsMade: 1 });
    expect(await job.result()).toEqual(prediction);
  });

  it('holds a predict while paused and runs it on resume', async () => {
    inline.pause();
    let settled = false;
    const pending = inline.predict('iris', IRIS).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    inline.resume();
    expect((await pending).outputs.probabilities?.shape).toEqual([1, 3]);
  });

  it('refuses a negative inlineBelowMs with ERR_VALIDATION', async () => {
    await expect(
      createEmbeddedClient({ repository: MODELS, inlineBelowMs: -1 }),
    ).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
  });
});
