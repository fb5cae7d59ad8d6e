import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutputStepSchema, createTensor, type Tensor } from '@conveyor/shared';
import type { RuntimeTensorSpec } from '../session.js';
import { ARGMAX_STEP, SOFTMAX_STEP, THRESHOLD_STEP, TOPK_STEP } from './outputs.js';
import { createStepContext } from './step-context.js';
import type { OutputStep } from './step.js';

const logits: RuntimeTensorSpec = {
  name: 'logits',
  dtype: 'float32',
  shape: [-1, 3],
  runtimeShape: ['batch', 3],
};
const model = { inputs: [], outputs: [logits] };
// Two rows of three scores.
const scores = createTensor('float32', [2, 3], Float32Array.from([1, 2, 3, 0.5, -1, 0.25]));

async function build(name: string, config: unknown, dir = tmpdir()): Promise<OutputStep> {
  const step = OutputStepSchema.parse(config);
  const context = createStepContext(dir);
  const init = { name, model, context };
  switch (step.kind) {
    case 'softmax':
      return SOFTMAX_STEP.create({ ...init, config: step });
    case 'argmax':
      return ARGMAX_STEP.create({ ...init, config: step });
    case 'topk':
      return TOPK_STEP.create({ ...init, config: step });
    case 'threshold':
      return THRESHOLD_STEP.create({ ...init, config: step });
    default:
      throw new Error(`no ${step.kind} here`);
  }
}

const values = (t: Tensor | undefined) => Array.from(t?.data as ArrayLike<number | string>);

describe('the output steps', () => {
  it('softmax gives e^x / sum e^x along the last axis', async () => {
    const step = await build('probabilities', { kind: 'softmax' });
    expect(step.external).toEqual([{ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }]);
    const out = await step.run({ logits: scores });
    const e = [1, 2, 3].map(Math.exp);
    const sum = e[0]! + e[1]! + e[2]!;
    const got = values(out.probabilities) as number[];
    expect(out.probabilities?.shape).toEqual([2, 3]);
    e.forEach((v, i) => expect(got[i]).toBeCloseTo(v / sum, 6));
    expect(got[3]! + got[4]! + got[5]!).toBeCloseTo(1, 6);
  });

  it('argmax names the best class of each row and gives its probability', async () => {
    const step = await build('label', {
      kind: 'argmax',
      labels: ['cat', 'dog', 'fox'],
      activation: 'softmax',
    });
    expect(step.external.map((s) => [s.name, s.dtype, s.shape])).toEqual([
      ['label', 'string', [-1]],
      ['score', 'float32', [-1]],
    ]);
    const out = await step.run({ logits: scores });
    expect(values(out.label)).toEqual(['fox', 'cat']);
    // Row 2: e^0.5 / (e^0.5 + e^-1 + e^0.25).
    const row2 = Math.exp(0.5) / (Math.exp(0.5) + Math.exp(-1) + Math.exp(0.25));
    expect((values(out.score) as number[])[1]).toBeCloseTo(row2, 6);
  });

  it('argmax without labels names classes by index, and reads labels.txt', async () => {
    const bare = await build('label', { kind: 'argmax', score: false });
    expect(bare.external).toHaveLength(1);
    expect(values((await bare.run({ logits: scores })).label)).toEqual(['2', '0']);
    const dir = await mkdtemp(path.join(tmpdir(), 'labels-'));
    await writeFile(path.join(dir, 'labels.txt'), 'a\nb\nc\n\n');
    const filed = await build('label', { kind: 'argmax', labels: 'labels.txt' }, dir);
    expect(values((await filed.run({ logits: scores })).label)).toEqual(['c', 'a']);
  });

  it('top-k gives the k best labels and raw scores, best first', async () => {
    const step = await build('top', { kind: 'topk', k: 2, labels: ['a', 'b', 'c'] });
    const out = await step.run({ logits: scores });
    expect(out.top?.shape).toEqual([2, 2]);
    expect(values(out.top)).toEqual(['c', 'b', 'a', 'c']);
    expect(values(out.scores)).toEqual([3, 2, 0.5, 0.25]);
  });

  it('threshold keeps every class whose sigmoid reaches it, padding with ""', async () => {
    const step = await build('tags', {
      kind: 'threshold',
      threshold: 0.6,
      labels: ['a', 'b', 'c'],
    });
    const out = await step.run({ logits: scores });
    // sigmoid: row 1 [0.731, 0.881, 0.953]; row 2 [0.622, 0.269, 0.562].
    expect(values(out.tags)).toEqual(['c', 'b', 'a', 'a', '', '']);
    const got = values(out.scores) as number[];
    expect(got[0]).toBeCloseTo(1 / (1 + Math.exp(-3)), 6);
    expect(got[3]).toBeCloseTo(1 / (1 + Math.exp(-0.5)), 6);
    expect(got.slice(4)).toEqual([0, 0]);
  });

  it('threshold takes one threshold per class', async () => {
    const step = await build('tags', {
      kind: 'threshold',
      threshold: [0.5, 0.9, 0.99],
      activation: 'none',
      score: false,
    });
    const tensor = createTensor('float32', [1, 3], Float32Array.from([0.6, 0.95, 0.98]));
    expect(values((await step.run({ logits: tensor })).tags)).toEqual(['1', '0', '']);
  });

  it('refuses labels that do not match the classes and a k over them', async () => {
    await expect(build('label', { kind: 'argmax', labels: ['a', 'b'] })).rejects.toMatchObject({
      code: 'ERR_MODEL_CONFIG_INVALID',
    });
    await expect(build('top', { kind: 'topk', k: 4 })).rejects.toMatchObject({
      code: 'ERR_MODEL_CONFIG_INVALID',
    });
    await expect(build('label', { kind: 'argmax', from: 'nope' })).rejects.toMatchObject({
      code: 'ERR_MODEL_CONFIG_INVALID',
    });
    await expect(build('label', { kind: 'argmax', labels: 'missing.txt' })).rejects.toMatchObject({
      code: 'ERR_MODEL_CONFIG_INVALID',
    });
  });
});
