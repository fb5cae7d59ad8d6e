import { describe, expect, it } from 'vitest';
import { ModelConfigSchema } from '../schemas/model-config.js';
import { binIndex, computeBaseline, featureBaseline, parseWindow } from './baseline.js';

describe('featureBaseline', () => {
  // numpy: np.quantile(x, np.linspace(0, 1, 5)), np.histogram(x, edges), x.mean(), x.std().
  it('takes quantile edges and counts as numpy does', () => {
    const base = featureBaseline([1, 2, 2, 3, 4, 5, 6, 7, 8, 100], 4);
    expect(base.histogram.edges).toEqual([1, 2.25, 4.5, 6.75, 100]);
    expect(base.histogram.counts).toEqual([3, 2, 2, 3]);
    expect(base.mean).toBeCloseTo(13.8, 12);
    expect(base.std).toBeCloseTo(28.815967795651076, 12);
  });

  it('gives each value of a feature with few distinct values its own bin', () => {
    const base = featureBaseline([0, 0, 0, 1, 1], 4);
    expect(base.histogram.edges).toEqual([0, 0.5, 1]);
    expect(base.histogram.counts).toEqual([3, 2]);
    expect(featureBaseline([7, 7], 4).histogram).toEqual({
      edges: [6, 6.5, 7.5, 8],
      counts: [0, 2, 0],
    });
  });

  it('merges repeated quantile edges', () => {
    // numpy: np.quantile of [0]*6 + [1, 2, 3, 4, 5, 6] at 0, 1/4, ..., 1 is 0, 0, 0.5, 3.25, 6.
    const base = featureBaseline([0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6], 4);
    expect(base.histogram.edges).toEqual([0, 0.5, 3.25, 6]);
    expect(base.histogram.counts).toEqual([6, 3, 3]);
  });

  it('refuses a feature with no finite value', () => {
    expect(() => featureBaseline([Number.NaN])).toThrow(
      expect.objectContaining({ code: 'ERR_VALIDATION' }),
    );
  });
});

describe('binIndex', () => {
  it('puts values beyond the outer edges in the outer bins and the last edge in the last bin', () => {
    const edges = [0, 1, 2, 3];
    expect([-5, 0, 0.5, 1, 2.99, 3, 7].map((v) => binIndex(edges, v))).toEqual([
      0, 0, 0, 1, 2, 2, 2,
    ]);
    expect(binIndex(edges, Number.NaN)).toBe(-1);
  });
});

describe('computeBaseline', () => {
  it('builds a baseline model.json accepts', () => {
    const baseline = computeBaseline(
      new Map([
        ['a', [1, 2, 3, 4]],
        ['b', [5, 5, 6, 9]],
      ]),
      2,
    );
    expect(baseline.rows).toBe(4);
    expect(Object.keys(baseline.features)).toEqual(['a', 'b']);
    const config = ModelConfigSchema.parse({
      baseline,
      alerts: { driftPsi: 0.2, webhook: 'https://hooks.example/drift' },
    });
    expect(config.alerts?.window).toBe('1h');
    expect(config.alerts?.minRows).toBe(100);
  });

  it('refuses drift alerts without a baseline and histograms whose edges do not fit', () => {
    expect(
      ModelConfigSchema.safeParse({ alerts: { driftPsi: 0.2, webhook: 'https://h.example/' } })
        .success,
    ).toBe(false);
    const bad = { mean: 0, std: 1, histogram: { edges: [0, 1], counts: [1, 2] } };
    expect(
      ModelConfigSchema.safeParse({ baseline: { rows: 3, features: { a: bad } } }).success,
    ).toBe(false);
  });
});

describe('parseWindow', () => {
  it('reads ms, s, m and h up to a day', () => {
    expect(parseWindow('500ms')).toBe(500);
    expect(parseWindow('90s')).toBe(90_000);
    expect(parseWindow('15m')).toBe(900_000);
    expect(parseWindow('24h')).toBe(86_400_000);
    expect(parseWindow('25h')).toBeUndefined();
    expect(parseWindow('1 day')).toBeUndefined();
  });
});
