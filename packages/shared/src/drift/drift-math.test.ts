import { describe, expect, it } from 'vitest';
import {
  chiSquareSurvival,
  chiSquareTest,
  kolmogorovSurvival,
  ksTest,
  logGamma,
  psi,
} from './drift-math.js';

// Reference values computed independently with numpy 2.4 and scipy 1.17:
// psi by its formula in numpy, scipy.stats.chi2_contingency(correction=False), chi2.sf,
// kstwobign.sf, ks_2samp on the samples the counts stand for, scipy.special.gammaln.

describe('psi', () => {
  it('matches the formula on bins of known shares', () => {
    expect(psi([25, 25, 25, 25], [10, 20, 30, 40])).toBeCloseTo(0.22821740957339182, 12);
  });

  it('is zero for the same shares at any size', () => {
    expect(psi([1, 2, 3], [10, 20, 30])).toBeCloseTo(0, 12);
  });

  it('gives an empty bin the epsilon share instead of an infinite term', () => {
    expect(psi([50, 30, 20, 0], [0, 30, 30, 40])).toBeCloseTo(7.615081838276595, 10);
  });

  it('is NaN when a side has no counts', () => {
    expect(psi([0, 0], [1, 2])).toBeNaN();
    expect(psi([1, 2], [0, 0])).toBeNaN();
  });
});

describe('chiSquareTest', () => {
  it('matches scipy chi2_contingency on a 2×4 table', () => {
    const result = chiSquareTest([12, 30, 45, 13], [20, 35, 30, 15]);
    expect(result.df).toBe(3);
    expect(result.statistic).toBeCloseTo(5.527472527472527, 10);
    expect(result.pValue).toBeCloseTo(0.13700465850162896, 10);
  });

  it('leaves out bins empty in both samples', () => {
    const result = chiSquareTest([10, 0, 30, 5], [3, 0, 8, 20]);
    expect(result.df).toBe(2);
    expect(result.statistic).toBeCloseTo(23.732451061483317, 10);
    expect(result.pValue).toBeCloseTo(7.023664056363958e-6, 14);
  });
});

describe('chiSquareSurvival', () => {
  it('matches scipy chi2.sf at its critical values and beyond', () => {
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(chiSquareSurvival(11.070497693516351, 5)).toBeCloseTo(0.05, 12);
    expect(chiSquareSurvival(0.5, 3)).toBeCloseTo(0.9188914116546758, 12);
    expect(chiSquareSurvival(150, 100)).toBeCloseTo(0.0009039320423540184, 14);
  });
});

describe('kolmogorov', () => {
  it('matches scipy kstwobign.sf', () => {
    expect(kolmogorovSurvival(1.3580986393225505)).toBeCloseTo(0.05, 12);
    expect(kolmogorovSurvival(1)).toBeCloseTo(0.26999967167735456, 12);
    expect(kolmogorovSurvival(0.5)).toBeCloseTo(0.9639452436648751, 12);
  });

  it('finds the statistic of ks_2samp on the samples the counts stand for', () => {
    const near = ksTest([12, 30, 45, 13], [20, 35, 30, 15]);
    expect(near.statistic).toBeCloseTo(0.13, 12);
    expect(near.pValue).toBeCloseTo(0.34388571222170117, 10);
    const apart = ksTest([100, 0, 0, 0], [0, 0, 10, 90]);
    expect(apart.statistic).toBe(1);
    expect(apart.pValue).toBeLessThan(1e-40);
    expect(apart.pValue / 1.5505547466854487e-45).toBeCloseTo(1, 6);
  });
});

describe('logGamma', () => {
  it('matches scipy gammaln', () => {
    expect(logGamma(0.3)).toBeCloseTo(1.0957979948180756, 12);
    expect(logGamma(10.5)).toBeCloseTo(13.940625219403763, 11);
    expect(logGamma(100)).toBeCloseTo(359.1342053695754, 9);
  });
});
