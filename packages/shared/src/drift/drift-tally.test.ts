import { describe, expect, it } from 'vitest';
import { createTensor } from '../tensor/tensor.js';
import { addFeatureCounts, driftTallyOf, emptyFeatureCounts, tallyInputs } from './drift-tally.js';

const inputs = [{ name: 'x', dtype: 'float32' as const, shape: [-1, 2], labels: ['a', 'b'] }];
const baseline = {
  rows: 4,
  features: { b: { mean: 1, std: 1, histogram: { edges: [0, 1, 2], counts: [2, 2] } } },
};

describe('the drift tally of a version', () => {
  it('measures the features its baseline describes, and none without a baseline', () => {
    expect(driftTallyOf({}, inputs)).toBeUndefined();
    expect(
      driftTallyOf({ baseline: { ...baseline, features: { c: baseline.features.b } } }, inputs),
    ).toBeUndefined();
    const tally = driftTallyOf({ baseline }, inputs);
    expect(tally?.meta.features).toEqual(['b']);
    expect(tally?.edges).toEqual([[0, 1, 2]]);
  });

  it('counts each value in its bin (outer bins open-ended), with count, sum and squares', () => {
    const tally = driftTallyOf({ baseline }, inputs)!;
    const counts = emptyFeatureCounts(tally);
    const x = createTensor('float32', [3, 2], new Float32Array([9, -1, 9, 1.5, 9, 7]));
    expect(tallyInputs(tally, { x }, counts)).toBe(true);
    expect(counts).toEqual([{ bins: [1, 2], n: 3, sum: 7.5, squares: 52.25 }]);
    const total = emptyFeatureCounts(tally);
    addFeatureCounts(total, counts);
    addFeatureCounts(total, counts);
    expect(total).toEqual([{ bins: [2, 4], n: 6, sum: 15, squares: 104.5 }]);
    expect(tallyInputs(tally, {}, counts)).toBe(false);
  });
});
