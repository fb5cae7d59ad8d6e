import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '@conveyor/engine';
import { createTensor, toNumbers, toRows, toTensors, type Tensor } from '@conveyor/shared';
import { LINE_HEIGHT, LINE_WIDTH, textLine } from '../../../scripts/lib/text-line.js';
import { MODELS } from './support/onnx-models.js';

const RAW = 'softmax_0.tmp_0';
const PLANE = LINE_HEIGHT * LINE_WIDTH;

/**
 * A text-line crop as a PNG: textLine's [-1, 1] plane back to 0..255 gray, at its own 192x48 or
 * `scale` times that (nearest), which the image step then resizes back to 48 rows.
 */
async function linePng(word: string, rotate180: boolean, scale = 1): Promise<Uint8Array> {
  const plane = textLine(word, rotate180).subarray(0, PLANE);
  const gray = Buffer.from(Array.from(plane, (v) => Math.round((v * 0.5 + 0.5) * 255)));
  const png = await sharp(gray, { raw: { width: LINE_WIDTH, height: LINE_HEIGHT, channels: 1 } })
    .resize(LINE_WIDTH * scale, LINE_HEIGHT * scale, { kernel: 'nearest' })
    .png()
    .toBuffer();
  return new Uint8Array(png);
}

const images = (list: Uint8Array[]): Record<string, Tensor> => ({
  image: createTensor('bytes', [list.length], list),
});

describe('a model with image preprocessing and argmax (text-direction-image)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({
      repository: MODELS,
      models: ['text-direction', 'text-direction-image'],
    });
  }, 60_000);
  afterAll(() => engine?.close());

  it('announces an image input and label and score outputs, the raw output after them', () => {
    const served = engine.resolve('text-direction-image');
    expect(served.state).toBe('ready');
    expect(served.signature.inputs).toEqual([{ name: 'image', dtype: 'bytes', shape: [-1] }]);
    expect(served.signature.outputs.map((o) => [o.name, o.dtype, o.shape])).toEqual([
      ['label', 'string', [-1]],
      ['score', 'float32', [-1]],
      [RAW, 'float32', [-1, 2]],
    ]);
  });

  it('answers as the raw model does on the tensors of the same lines', async () => {
    const words = ['CONVEYOR', 'TENSOR', 'SEVEN'];
    const pngs: Uint8Array[] = [];
    const batch = new Float32Array(words.length * 2 * 3 * PLANE);
    words.forEach((word, i) => {
      batch.set(textLine(word, false), 2 * i * 3 * PLANE);
      batch.set(textLine(word, true), (2 * i + 1) * 3 * PLANE);
    });
    for (const word of words) pngs.push(await linePng(word, false), await linePng(word, true));
    const [processed, raw] = await Promise.all([
      engine.predict({ model: 'text-direction-image', inputs: images(pngs) }),
      engine.predict({
        model: 'text-direction',
        inputs: toTensors({ x: { data: batch, shape: [pngs.length, 3, 48, 192] } }),
      }),
    ]);
    expect(Object.keys(processed.outputs)).toEqual(['label', 'score']);
    expect(Array.from(processed.outputs.label!.data as string[])).toEqual(
      words.flatMap(() => ['0', '180']),
    );
    const scores = toNumbers(processed.outputs.score!);
    toRows(raw.outputs[RAW]!).forEach((row, i) => {
      expect(scores[i], `row ${i}`).toBeCloseTo(Math.max(...row), 5);
    });
  });

  it('labels lines drawn at twice the size, resized back to 48 rows', async () => {
    const pngs: Uint8Array[] = [];
    for (const word of ['CONVEYOR', 'TENSOR', 'SEVEN'])
      pngs.push(await linePng(word, false, 2), await linePng(word, true, 2));
    const { outputs } = await engine.predict({
      model: 'text-direction-image',
      inputs: images(pngs),
    });
    expect(Array.from(outputs.label!.data as string[])).toEqual([
      '0',
      '180',
      '0',
      '180',
      '0',
      '180',
    ]);
    for (const score of toNumbers(outputs.score!)) expect(score).toBeGreaterThan(0.5);
  });

  it('gives the raw model output when asked for it by name', async () => {
    const png = await linePng('RAW', false);
    const { outputs } = await engine.predict({
      model: 'text-direction-image',
      inputs: images([png]),
      outputs: [RAW, 'label'],
    });
    expect(Object.keys(outputs).sort()).toEqual(['label', RAW].sort());
    expect(outputs[RAW]!.shape).toEqual([1, 2]);
  });

  it('answers each of many requests joined in one call with its own rows', async () => {
    const pngs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => linePng('LINE', i % 2 === 1)),
    );
    const results = await Promise.all(
      pngs.map((png) => engine.predict({ model: 'text-direction-image', inputs: images([png]) })),
    );
    expect(results.map((r) => (r.outputs.label!.data as string[])[0])).toEqual(
      pngs.map((_, i) => (i % 2 === 1 ? '180' : '0')),
    );
  });

  it('refuses a row that is no image with ERR_IMAGE_INVALID, and tensors for the image', async () => {
    const bad = new TextEncoder().encode('not a png');
    await expect(
      engine.predict({ model: 'text-direction-image', inputs: images([bad]) }),
    ).rejects.toMatchObject({ code: 'ERR_IMAGE_INVALID' });
    await expect(
      engine.predict({
        model: 'text-direction-image',
        inputs: toTensors({ x: { data: textLine('X'), shape: [1, 3, 48, 192] } }),
      }),
    ).rejects.toMatchObject({ code: 'ERR_INPUT_MISSING' });
  });
});

describe('a model with image preprocessing on the calling thread', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({
      repository: MODELS,
      models: ['text-direction-image'],
      inlineBelowMs: 1000,
    });
  }, 60_000);
  afterAll(() => engine?.close());

  it('runs there, preprocessing included', async () => {
    expect(engine.resolve('text-direction-image').inline).toBe(true);
    const png = await linePng('INLINE', true);
    const { outputs } = await engine.predict({
      model: 'text-direction-image',
      inputs: images([png]),
    });
    expect(Array.from(outputs.label!.data as string[])).toEqual(['180']);
  });
});
