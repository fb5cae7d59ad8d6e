import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ModelConfigSchema, createTensor, type ModelConfigInput } from '@conveyor/shared';
import { createProcessor } from './processor.js';
import { createStepContext } from './step-context.js';
import type { ModelIo } from './step.js';

const model: ModelIo = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1, -1, -1], runtimeShape: [] }],
  outputs: [{ name: 'logits', dtype: 'float32', shape: [-1, 2], runtimeShape: [] }],
};
const build = (config: ModelConfigInput) =>
  createProcessor(ModelConfigSchema.parse(config), model, createStepContext(tmpdir()));
const gray = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer()
    .then((b) => new Uint8Array(b));

const IMAGE = { kind: 'image', color: 'gray', fit: 'inside' } as const;

describe('a version processor', () => {
  it('is absent without steps', async () => {
    expect(await build({})).toBeUndefined();
  });

  it('preprocesses each joined request alone, then joins their rows', async () => {
    const processor = (await build({ preprocess: { image: IMAGE } }))!;
    const images = [await gray(4, 2), await gray(4, 2), await gray(4, 2)];
    const prepared = await processor.preprocess(
      { image: createTensor('bytes', [3], images) },
      [1, 2],
    );
    expect(prepared.inputs.x?.shape).toEqual([3, 1, 2, 4]);
    expect(prepared.pieces).toHaveLength(2);
  });

  it('refuses to join requests preprocessed to different shapes', async () => {
    const processor = (await build({ preprocess: { image: IMAGE } }))!;
    const images = [await gray(4, 2), await gray(8, 2)];
    await expect(
      processor.preprocess({ image: createTensor('bytes', [2], images) }, [1, 1]),
    ).rejects.toMatchObject({ code: 'ERR_INFERENCE_FAILED' });
  });

  it('asks the model for what each requested output reads, raw outputs by their name', async () => {
    const processor = (await build({
      postprocess: { label: { kind: 'argmax', activation: 'softmax' } },
    }))!;
    expect(processor.outputs.map((o) => o.name)).toEqual(['label', 'score']);
    expect(processor.modelOutputs(['score'])).toEqual(['logits']);
    expect(processor.modelOutputs(['label', 'logits'])).toEqual(['logits']);
    const logits = createTensor('float32', [1, 2], Float32Array.from([0, 1]));
    const prepared = { inputs: {}, pieces: [] };
    const out = await processor.postprocess(prepared, { logits }, ['label', 'logits']);
    expect(Object.keys(out).sort()).toEqual(['label', 'logits']);
    expect(out.label?.data).toEqual(['1']);
  });

  it('refuses a step for a model input that does not exist, or an unknown output', async () => {
    await expect(build({ preprocess: { image: { ...IMAGE, input: 'y' } } })).rejects.toMatchObject({
      code: 'ERR_MODEL_CONFIG_INVALID',
    });
    await expect(
      build({ postprocess: { label: { kind: 'argmax', from: 'probs' } } }),
    ).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG_INVALID' });
  });

  it('refuses an image step whose size contradicts the model input', async () => {
    const fixed: ModelIo = {
      ...model,
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 3, 48, 192], runtimeShape: [] }],
    };
    const config = ModelConfigSchema.parse({
      preprocess: { image: { kind: 'image', width: 100, height: 48 } },
    });
    await expect(createProcessor(config, fixed, createStepContext(tmpdir()))).rejects.toMatchObject(
      { code: 'ERR_MODEL_CONFIG_INVALID' },
    );
  });
});
