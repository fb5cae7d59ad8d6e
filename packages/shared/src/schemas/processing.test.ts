import { describe, expect, it } from 'vitest';
import { ModelConfigSchema } from './model-config.js';

describe('model.json preprocess and postprocess', () => {
  it('parses an image input and argmax output with their defaults', () => {
    const config = ModelConfigSchema.parse({
      preprocess: { image: { kind: 'image', width: 4, height: 2 } },
      postprocess: { label: { kind: 'argmax', labels: ['a', 'b'] } },
    });
    expect(config.preprocess?.image).toMatchObject({
      kind: 'image',
      fit: 'fill',
      color: 'rgb',
      layout: 'nchw',
      mean: [0],
      std: [1],
      maxPixels: 40_000_000,
    });
    expect(config.postprocess?.label).toMatchObject({ kind: 'argmax', score: 'score' });
  });

  it('refuses an unknown step kind, naming its path', () => {
    const parsed = ModelConfigSchema.safeParse({ preprocess: { image: { kind: 'video' } } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['preprocess', 'image', 'kind']);
  });

  it('refuses a fill without a size and a mean of two values for three channels', () => {
    const parsed = ModelConfigSchema.safeParse({
      preprocess: { image: { kind: 'image', mean: [0.5, 0.5] } },
    });
    const paths = parsed.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'preprocess.image.width',
        'preprocess.image.height',
        'preprocess.image.mean',
      ]),
    );
  });

  it('refuses a zero std and a labels file name that leaves the folder', () => {
    expect(
      ModelConfigSchema.safeParse({
        preprocess: { image: { kind: 'image', fit: 'inside', std: [0] } },
      }).success,
    ).toBe(false);
    expect(
      ModelConfigSchema.safeParse({
        postprocess: { label: { kind: 'argmax', labels: '../labels.txt' } },
      }).success,
    ).toBe(false);
  });
});
