import { describe, expect, it } from 'vitest';
import { FeedbackSchema } from './feedback.js';
import { scoreFeedback } from './feedback-score.js';
import { createTensor } from './tensor/tensor.js';

const probabilities = createTensor(
  'float32',
  [3, 3],
  new Float32Array([0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3]),
);
const labels = ['setosa', 'versicolor', 'virginica'];
const labelsOf = () => labels;

describe('scoreFeedback', () => {
  it('counts rows whose top class is the label, by index or by label', () => {
    expect(scoreFeedback({ probabilities }, { label: [0, 2, 2] }, labelsOf)).toEqual({
      kind: 'label',
      output: 'probabilities',
      rows: 3,
      correct: 2,
    });
    expect(
      scoreFeedback({ probabilities }, { label: ['setosa', 'setosa', 'versicolor'] }, labelsOf),
    ).toMatchObject({ correct: 2 });
  });

  it('reads one class per row from integer and string outputs, and 0.5 on one probability', () => {
    const ids = createTensor('int64', [2], new BigInt64Array([1n, 2n]));
    expect(scoreFeedback({ ids }, { label: [1, 1] }, () => undefined)).toMatchObject({
      correct: 1,
    });
    const names = createTensor('string', [2, 1], ['cat', 'dog']);
    expect(scoreFeedback({ names }, { label: ['cat', 'cat'] }, () => undefined)).toMatchObject({
      correct: 1,
    });
    const p = createTensor('float32', [2, 1], new Float32Array([0.8, 0.4]));
    expect(scoreFeedback({ p }, { label: [1, 1] }, () => undefined)).toMatchObject({ correct: 1 });
  });

  it('sums absolute and squared errors of a regression', () => {
    const y = createTensor('float32', [2, 1], new Float32Array([1.5, -2]));
    const score = scoreFeedback({ y }, { value: [1, 1] }, () => undefined);
    expect(score).toEqual({ kind: 'value', output: 'y', rows: 2, absSum: 3.5, sqSum: 9.25 });
  });

  it('refuses feedback that does not fit the output with ERR_VALIDATION', () => {
    const fail = (f: Parameters<typeof scoreFeedback>[1]) => () =>
      scoreFeedback({ probabilities }, f, labelsOf);
    const invalid: unknown = expect.objectContaining({ code: 'ERR_VALIDATION' });
    expect(fail({ label: 1 })).toThrow(invalid); // one label for three rows
    expect(fail({ label: ['rose', 'rose', 'rose'] })).toThrow(invalid);
    expect(fail({ value: [1, 2, 3] })).toThrow(invalid); // three scores per row
    expect(fail({ label: [0, 0, 0], output: 'nope' })).toThrow(invalid);
    expect(() =>
      scoreFeedback({ probabilities }, { label: ['setosa', 'setosa', 'setosa'] }, () => undefined),
    ).toThrow(invalid);
  });

  it('takes exactly one of label and value', () => {
    expect(FeedbackSchema.safeParse({ label: 1, value: 2 }).success).toBe(false);
    expect(FeedbackSchema.safeParse({}).success).toBe(false);
    expect(FeedbackSchema.safeParse({ label: -1 }).success).toBe(false);
    expect(FeedbackSchema.safeParse({ value: [1.5] }).success).toBe(true);
  });
});
