import { describe, expect, it } from 'vitest';
import { ACCURACY_BUCKET_MS } from './feedback.js';
import {
  AccuracyQuerySchema,
  accuracyBucketOf,
  accuracyOverWindows,
  sumsOfScore,
} from './feedback-accuracy.js';

const MINUTE = ACCURACY_BUCKET_MS;
const AT = 1_700_000_000_000 - (1_700_000_000_000 % MINUTE) + 30_000;

describe('accuracyOverWindows', () => {
  it('sums each version over the windows its buckets touch, in whole buckets', () => {
    const result = accuracyOverWindows('iris', AT, [
      { version: '10', bucket: accuracyBucketOf(AT), sums: { n: 2, c: 1 } },
      { version: '2', bucket: accuracyBucketOf(AT), sums: { r: 2, a: 1, s: 2 } },
      // Ended 5 minutes before AT's bucket started: in the hour, not in 5 minutes.
      { version: '10', bucket: accuracyBucketOf(AT) - 6 * MINUTE, sums: { n: 2, c: 2 } },
      // Starts after AT: not counted yet.
      { version: '10', bucket: accuracyBucketOf(AT) + MINUTE, sums: { n: 5, c: 5 } },
    ]);
    expect(result.versions.map((v) => v.version)).toEqual(['2', '10']);
    const ten = result.versions[1]?.windows;
    expect(ten?.['5m']).toMatchObject({ labelled: 2, correct: 1, accuracy: 0.5 });
    expect(ten?.['1h']).toMatchObject({ labelled: 4, correct: 3, accuracy: 0.75 });
    expect(result.versions[0]?.windows['5m']).toEqual({
      labelled: 0,
      correct: 0,
      accuracy: null,
      valued: 2,
      mae: 0.5,
      rmse: 1,
    });
  });

  it('adds labels to n and c, values to r, a and s', () => {
    expect(sumsOfScore({ kind: 'label', output: 'p', rows: 3, correct: 2 })).toEqual({
      n: 3,
      c: 2,
    });
    expect(sumsOfScore({ kind: 'value', output: 'y', rows: 2, absSum: 1, sqSum: 0.5 })).toEqual({
      r: 2,
      a: 1,
      s: 0.5,
    });
  });

  it('refuses an `at` that is not a whole number of ms', () => {
    expect(AccuracyQuerySchema.safeParse({ at: 1.5 }).success).toBe(false);
    expect(AccuracyQuerySchema.safeParse({ when: 1 }).success).toBe(false);
  });
});
