import { describe, expect, it } from 'vitest';
import { compareOutputs } from './compare-outputs.js';
import { comparisonReport } from './comparison-report.js';
import {
  bucketUpperMs,
  dropUpdate,
  histogramQuantile,
  latencyBucket,
  statsUpdate,
  type StatsUpdate,
} from './comparison-stats.js';

/** What RECORD_COMPARISON_SCRIPT does to the hash, in memory. */
function apply(hash: Record<string, string>, update: StatsUpdate): void {
  for (const [f, v] of Object.entries(update.incr)) hash[f] = String(Number(hash[f] ?? 0) + v);
  for (const [f, v] of Object.entries(update.max))
    if (hash[f] === undefined || v > Number(hash[f])) hash[f] = String(v);
  hash.at = '1000';
}

describe('latency buckets', () => {
  it('grows by a quarter of a doubling from 0.01 ms', () => {
    expect(latencyBucket(0.005)).toBe(0);
    expect(latencyBucket(0.02)).toBe(4);
    // 4 * log2(1 / 0.01) = 26.58, so 1 ms falls in bucket 27, whose upper edge is 0.01 * 2^6.75.
    expect(latencyBucket(1)).toBe(27);
    expect(bucketUpperMs(27)).toBe(1.076);
  });

  it('reads a quantile as the upper edge of the bucket that holds it', () => {
    const counts = new Map([
      [4, 1],
      [27, 3],
    ]);
    expect(histogramQuantile(counts, 0.25)).toBe(0.02);
    expect(histogramQuantile(counts, 0.5)).toBe(1.076);
    expect(histogramQuantile(new Map(), 0.5)).toBeUndefined();
  });
});

describe('comparison report', () => {
  it('adds answers up into agreement, differences, latency and drops', () => {
    const p = (values: number[]) => ({
      probabilities: { dtype: 'float64' as const, shape: [1, 2], data: Float64Array.from(values) },
    });
    const hash: Record<string, string> = {};
    // Same top class, |diff| 0.1 twice (relative 0.1/0.8 and 0.1/0.3).
    apply(
      hash,
      statsUpdate(
        compareOutputs(p([0.8, 0.2]), p([0.7, 0.3])),
        { inferenceMs: 1, queuedMs: 2 },
        { inferenceMs: 0.02, queuedMs: 4 },
      ),
    );
    // Top class 0 against 1, |diff| 0.4 twice (relative 0.4/0.7 and 0.4/0.7).
    apply(
      hash,
      statsUpdate(
        compareOutputs(p([0.7, 0.3]), p([0.3, 0.7])),
        { inferenceMs: 1 },
        { inferenceMs: 1 },
      ),
    );
    apply(hash, dropUpdate('backlog'));
    const report = comparisonReport(
      { source: 'shadow', model: 'iris', serving: '2', candidate: '3' },
      hash,
    );
    expect(report).toMatchObject({ compared: 2, dropped: 1, droppedBy: { backlog: 1 } });
    const [output] = report.outputs;
    expect(output).toMatchObject({ name: 'probabilities', agreement: 0.5, units: 2, elements: 4 });
    expect(output?.maxAbs).toBeCloseTo(0.4, 12);
    expect(output?.maxRel).toBeCloseTo(0.4 / 0.7, 12);
    expect(output?.meanAbs).toBeCloseTo(1 / 4, 12);
    expect(report.latency.serving).toEqual({
      count: 2,
      p50Ms: 1.076,
      p95Ms: 1.076,
      meanQueuedMs: 2,
    });
    expect(report.latency.candidate).toMatchObject({ count: 2, p50Ms: 0.02, meanQueuedMs: 4 });
    expect(report.updatedAt).toBe(1000);
  });

  it('gives an empty report for a pair never compared', () => {
    const report = comparisonReport(
      { source: 'replay', model: 'iris', serving: '1', candidate: '2' },
      {},
    );
    expect(report).toMatchObject({ compared: 0, dropped: 0, outputs: [], updatedAt: null });
    expect(report.latency.serving.p50Ms).toBeNull();
  });
});
