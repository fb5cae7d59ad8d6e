import { describe, expect, it } from 'vitest';
import { compareOutput, compareOutputs } from './compare-outputs.js';

const f64 = (shape: number[], values: number[]) => ({
  dtype: 'float64' as const,
  shape,
  data: Float64Array.from(values),
});

describe('compareOutput', () => {
  it('counts rows of a score output whose top class is the same, and the largest differences', () => {
    // Row 0: top class 0 on both sides; row 1: class 1 against class 2.
    // |diffs| 0.1 0.1 0 / 0 0.2 0.2; relative 0.1/0.7 0.1/0.3 0 / 0 0.2/0.5 0.2/0.6.
    const result = compareOutput(
      'probabilities',
      f64([2, 3], [0.7, 0.2, 0.1, 0.1, 0.5, 0.4]),
      f64([2, 3], [0.6, 0.3, 0.1, 0.1, 0.3, 0.6]),
    );
    expect(result).toMatchObject({ units: 2, agree: 1, elements: 6, classes: true, mismatched: 0 });
    expect(result.maxAbs).toBeCloseTo(0.2, 12);
    expect(result.maxRel).toBeCloseTo(0.4, 12);
    expect(result.sumAbs).toBeCloseTo(0.6, 12);
  });

  it('compares label outputs element by element, with no differences to measure', () => {
    const labels = (values: bigint[]) => ({
      dtype: 'int64' as const,
      shape: [values.length],
      data: BigInt64Array.from(values),
    });
    const result = compareOutput('label', labels([1n, 2n, 3n]), labels([1n, 0n, 3n]));
    expect(result).toMatchObject({ units: 3, agree: 2, elements: 0, maxAbs: 0, classes: true });
  });

  it('compares string labels by value', () => {
    const words = (values: string[]) => ({ dtype: 'string' as const, shape: [2], data: values });
    expect(compareOutput('label', words(['a', 'b']), words(['a', 'c']))).toMatchObject({
      units: 2,
      agree: 1,
    });
  });

  it('measures a regression output without calling it classes', () => {
    const result = compareOutput(
      'value',
      { dtype: 'float32', shape: [3, 1], data: Float32Array.from([1, -2, 0]) },
      { dtype: 'float32', shape: [3, 1], data: Float32Array.from([1.5, -2, 0]) },
    );
    expect(result).toMatchObject({ units: 0, classes: false, elements: 3, maxAbs: 0.5 });
    // 0.5 / max(1, 1.5); the pair of zeros adds no relative difference.
    expect(result.maxRel).toBeCloseTo(1 / 3, 6);
  });

  it('counts an output whose shape differs as a mismatch in which no row agrees', () => {
    const result = compareOutput('p', f64([1, 3], [1, 0, 0]), f64([1, 2], [1, 0]));
    expect(result).toMatchObject({ units: 1, agree: 0, elements: 0, mismatched: 1 });
  });
});

describe('compareOutputs', () => {
  it('compares the outputs both answers have, by name', () => {
    const one = f64([1, 2], [0.9, 0.1]);
    const names = compareOutputs({ b: one, a: one, only: one }, { a: one, b: one }).map(
      (o) => o.name,
    );
    expect(names).toEqual(['a', 'b']);
  });
});
