import { describe, expect, it } from 'vitest';
import { answerRepeatedFeedback, feedbackReceiptOf, feedbackTruth } from './feedback-once.js';

const label = (truth: number | number[]) => ({
  jobId: 'iris.1.x',
  model: 'iris',
  version: '1',
  feedback: { label: truth },
  score: { kind: 'label' as const, output: 'probabilities', rows: 1, correct: 1 },
});

describe('the once-per-prediction rule', () => {
  it('takes one truth and the same truth in a one-row array as the same', () => {
    expect(feedbackTruth(label(2))).toBe(feedbackTruth(label([2])));
    expect(feedbackTruth(label(2))).not.toBe(feedbackTruth(label(1)));
  });

  it('answers a repeat of the same truth with the first receipt, another with ERR_FEEDBACK_EXISTS', () => {
    const first = {
      entryId: '5-0',
      truth: feedbackTruth(label(2)),
      receipt: feedbackReceiptOf(label(2)),
    };
    expect(answerRepeatedFeedback(label([2]), first)).toEqual({ ...first.receipt, entryId: '5-0' });
    expect(() => answerRepeatedFeedback(label(1), first)).toThrow(
      expect.objectContaining({
        code: 'ERR_FEEDBACK_EXISTS',
        details: { id: 'iris.1.x', model: 'iris', entryId: '5-0' },
      }),
    );
  });

  it('gives a value receipt its mean absolute error', () => {
    const receipt = feedbackReceiptOf({
      ...label(0),
      feedback: { value: [1, 2] },
      score: { kind: 'value', output: 'y', rows: 2, absSum: 3, sqSum: 5 },
    });
    expect(receipt).toEqual({
      id: 'iris.1.x',
      model: 'iris',
      version: '1',
      kind: 'value',
      rows: 2,
      meanAbsoluteError: 1.5,
    });
  });
});
