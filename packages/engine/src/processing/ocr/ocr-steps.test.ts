import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoxesStepSchema, CtcStepSchema, createTensor, type Tensor } from '@conveyor/shared';
import type { RuntimeTensorSpec } from '../../session.js';
import { createStepContext } from '../step-context.js';
import type { StepContext } from '../step.js';
import { BOXES_STEP, CTC_STEP } from './ocr-steps.js';

const spec = (name: string, shape: number[]): RuntimeTensorSpec => ({
  name,
  dtype: 'float32',
  shape,
  runtimeShape: shape,
});
const DETECTOR = { inputs: [spec('x', [-1, 3, -1, -1])], outputs: [spec('map', [-1, 1, -1, -1])] };
const RECOGNISER = { inputs: [spec('x', [-1, 3, 48, -1])], outputs: [spec('scores', [-1, -1, 4])] };

describe('the OCR output steps', () => {
  let dir: string;
  let context: StepContext;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conveyor-ocr-steps-'));
    await writeFile(join(dir, 'keys.txt'), 'a\nb\n');
    context = createStepContext(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes each row its boxes, padded to the row with the most', async () => {
    const step = await BOXES_STEP.create({
      name: 'boxes',
      config: BoxesStepSchema.parse({ kind: 'boxes' }),
      model: DETECTOR,
      context,
    });
    expect(step.reads).toEqual(['map']);
    expect(step.external.map((e) => e.name)).toEqual(['boxes', 'boxes_score']);
    const map = new Float32Array(2 * 40 * 64);
    for (let y = 10; y < 20; y++) for (let x = 8; x < 48; x++) map[y * 64 + x] = 0.9;
    const out = await step.run({ map: createTensor('float32', [2, 1, 40, 64], map) });
    expect(out.boxes!.shape).toEqual([2, 1, 4, 2]);
    expect([...(out.boxes!.data as Float32Array).subarray(0, 2)]).toEqual([3, 5]);
    expect([...(out.boxes!.data as Float32Array).subarray(8)]).toEqual(new Array(8).fill(0));
    expect(out.boxes_score!.data[0]).toBeCloseTo(0.9, 5);
    expect(out.boxes_score!.data[1]).toBe(0);
  });

  it('scales boxes back to the client image an image step resized and padded', async () => {
    const step = await BOXES_STEP.create({
      name: 'boxes',
      config: BoxesStepSchema.parse({ kind: 'boxes' }),
      model: DETECTOR,
      context,
    });
    const map = new Float32Array(40 * 64);
    for (let y = 10; y < 20; y++) for (let x = 8; x < 48; x++) map[y * 64 + x] = 0.9;
    const tensor = createTensor('float32', [1, 1, 40, 64], map);
    const plain = (await step.run({ map: tensor })).boxes!.data as Float32Array;
    // A 400x200 image resized to 64x32 and placed 4 rows down on a 64x40 canvas (an input twice
    // the map's size): a map pixel is 2 input pixels, an input pixel 6.25 image pixels across
    // and 6.25 down; rows above the image are padding.
    const frame = {
      width: 400,
      height: 200,
      inputWidth: 128,
      inputHeight: 80,
      left: 0,
      top: 8,
      contentWidth: 64,
      contentHeight: 32,
    };
    const scaled = (await step.run({ map: tensor }, [frame])).boxes!.data as Float32Array;
    // Both answers are rounded to whole pixels: a map corner is known to half a map pixel, so
    // an image corner to half a map pixel's size in the image (6.25) plus its own rounding.
    for (let i = 0; i < 8; i += 2) {
      expect(Math.abs(scaled[i]! - Math.min(399, plain[i]! * 2 * 6.25))).toBeLessThanOrEqual(6.75);
      const y = (plain[i + 1]! * 2 - 8) * 6.25;
      expect(Math.abs(scaled[i + 1]! - Math.min(199, Math.max(0, y)))).toBeLessThanOrEqual(6.75);
    }
  });

  it('refuses a boxes step on an output that is no probability map', async () => {
    const model = { inputs: DETECTOR.inputs, outputs: [spec('logits', [-1, 10])] };
    const config = BoxesStepSchema.parse({ kind: 'boxes' });
    await expect(
      BOXES_STEP.create({ name: 'boxes', config, model, context }),
    ).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG_INVALID' });
  });

  it('rejects a map of more than one channel when it runs', async () => {
    const config = BoxesStepSchema.parse({ kind: 'boxes' });
    const step = await BOXES_STEP.create({ name: 'boxes', config, model: DETECTOR, context });
    const map = createTensor('float32', [1, 2, 4, 4], new Float32Array(32));
    await expect(step.run({ map })).rejects.toMatchObject({ code: 'ERR_INFERENCE_FAILED' });
  });

  it('decodes each row to text and a confidence', async () => {
    const config = CtcStepSchema.parse({ kind: 'ctc', dictionary: 'keys.txt' });
    const step = await CTC_STEP.create({ name: 'text', config, model: RECOGNISER, context });
    const best = [1, 1, 0, 2, 3, 1];
    const scores = new Float32Array(best.length * 4);
    best.forEach((c, t) => (scores[t * 4 + c] = 0.9));
    const out: Record<string, Tensor> = await step.run({
      scores: createTensor('float32', [2, 3, 4], scores),
    });
    expect(out.text).toMatchObject({ dtype: 'string', shape: [2], data: ['a', 'b a'] });
    expect(out.text_confidence!.data[0]).toBeCloseTo(0.9, 6);
  });

  it('refuses a dictionary that does not fit the recogniser, or is missing', async () => {
    const model = { inputs: RECOGNISER.inputs, outputs: [spec('scores', [-1, -1, 5])] };
    const config = CtcStepSchema.parse({ kind: 'ctc', dictionary: 'keys.txt' });
    await expect(CTC_STEP.create({ name: 'text', config, model, context })).rejects.toMatchObject({
      code: 'ERR_MODEL_CONFIG_INVALID',
    });
    const missing = { ...config, dictionary: 'absent.txt' };
    await expect(
      CTC_STEP.create({ name: 'text', config: missing, model: RECOGNISER, context }),
    ).rejects.toMatchObject({ code: 'ERR_MODEL_CONFIG_INVALID' });
  });
});
