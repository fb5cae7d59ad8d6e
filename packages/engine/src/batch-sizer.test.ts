import { describe, expect, it } from 'vitest';
import { bucketSizes, createBatchSizer, type BatchSizer } from './batch-sizer.js';

/** Milliseconds of one call of `rows` rows, in a synthetic cost model. */
type Cost = (rows: number) => number;

/** a + b·rows²: rows per second peak at rows = sqrt(a / b) = 4 (1.25 rows/ms; 1.0 at 2 and 8). */
const peakAtFour: Cost = (rows) => 1.6 + 0.1 * rows ** 2;
/** a + b·rows: every larger call delivers more rows per second. */
const linear: Cost = (rows) => 1 + 0.1 * rows;

/** Runs `calls` calls with a long queue, each as large as the sizer allows; returns their sizes. */
function drive(sizer: BatchSizer, cost: Cost, calls: number, queuedRows = 1_000): number[] {
  const sizes: number[] = [];
  for (let i = 0; i < calls; i += 1) {
    const rows = Math.min(queuedRows, sizer.limit(queuedRows));
    sizer.record(rows, cost(rows));
    sizes.push(rows);
  }
  return sizes;
}

const share = (sizes: readonly number[], size: number) =>
  sizes.filter((s) => s === size).length / sizes.length;

describe('batch sizer', () => {
  it('measures sizes in powers of two up to the cap, the cap included', () => {
    expect(bucketSizes(32)).toEqual([1, 2, 4, 8, 16, 32]);
    expect(bucketSizes(48)).toEqual([1, 2, 4, 8, 16, 32, 48]);
    expect(bucketSizes(1)).toEqual([1]);
  });

  it('starts at the cap, with nothing measured', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    expect(sizer.limit(1_000)).toBe(32);
    expect(sizer.stats()).toEqual({ adaptive: true, maxBatchSize: 32, bestSize: 32, perSize: [] });
  });

  it('settles at 4 when rows per second fall past 4, trying only neighbours after', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, peakAtFour, 100);
    expect(sizer.bestSize).toBe(4);
    const later = drive(sizer, peakAtFour, 320);
    expect(share(later, 4)).toBeGreaterThan(0.9);
    expect([...new Set(later)].sort((a, b) => a - b)).toEqual([2, 4, 8]);
    const stats = sizer.stats();
    expect(stats.bestSize).toBe(4);
    const four = stats.perSize.find((s) => s.size === 4);
    expect(four?.rowsPerSecond).toBeCloseTo(1250, 6);
    expect(four?.meanMs).toBeCloseTo(3.2, 6);
  });

  it('stays at the cap when every larger call pays', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    const sizes = drive(sizer, linear, 400);
    expect(sizer.bestSize).toBe(32);
    expect(share(sizes.slice(100), 32)).toBeGreaterThan(0.9);
  });

  it('climbs to the cap when the cost changes so that larger calls pay', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, peakAtFour, 200);
    expect(sizer.bestSize).toBe(4);
    drive(sizer, linear, 2_000);
    expect(sizer.bestSize).toBe(32);
  });

  it('moves down again when large calls stop paying', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, linear, 300);
    expect(sizer.bestSize).toBe(32);
    drive(sizer, peakAtFour, 2_000);
    expect(sizer.bestSize).toBe(4);
  });

  it('stays at 4 when every size slows down alike, measuring a leader again before moving', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, peakAtFour, 300);
    expect(sizer.bestSize).toBe(4);
    // Three times slower: the other sizes' old figures now beat the best size's fresh ones.
    const best = new Set<number>();
    for (let i = 0; i < 300; i += 1) {
      drive(sizer, (rows) => 3 * peakAtFour(rows), 1);
      best.add(sizer.bestSize);
    }
    expect(best).toEqual(new Set([4]));
  });

  it('does not move on one call of a neighbour that ran in a quiet moment of a slow host', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, peakAtFour, 300);
    expect(sizer.bestSize).toBe(4);
    // The host is three times slower from now on, but for one call of 8 rows.
    let quiet = true;
    const best = new Set<number>();
    for (let i = 0; i < 400; i += 1) {
      drive(
        sizer,
        (rows) => {
          const factor = rows === 8 && quiet ? 1 : 3;
          if (rows === 8) quiet = false;
          return factor * peakAtFour(rows);
        },
        1,
      );
      best.add(sizer.bestSize);
    }
    expect(quiet).toBe(false);
    expect(best).toEqual(new Set([4]));
  });

  it('keeps to the best size while the host speeds up and slows down', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, peakAtFour, 300);
    // Phases of 5, 7, 9 … calls alternately at full speed and 2.5 times slower.
    let phase = 0;
    let left = 5;
    const sizes: number[] = [];
    for (let i = 0; i < 3_000; i += 1) {
      const factor = phase % 2 === 0 ? 1 : 2.5;
      sizes.push(...drive(sizer, (rows) => factor * peakAtFour(rows), 1));
      left -= 1;
      if (left === 0) {
        phase += 1;
        left = 5 + 2 * (phase % 6);
      }
    }
    expect(phase).toBeGreaterThan(100);
    expect(sizer.bestSize).toBe(4);
    expect(share(sizes, 4)).toBeGreaterThan(0.9);
  });

  it('does not explore while fewer rows wait than the best size takes', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, peakAtFour, 200);
    const sizes = drive(sizer, peakAtFour, 200, 3);
    expect(new Set(sizes)).toEqual(new Set([3]));
    expect(sizer.limit(3)).toBe(4);
  });

  it('leaves the cap when never more than one full call waits', () => {
    // A busy worker holding two calls' worth of jobs: one call runs while exactly one waits.
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true });
    drive(sizer, peakAtFour, 300, 32);
    expect(sizer.bestSize).toBe(4);
  });

  it('takes a remainder of less than half a call along instead of leaving it for a call alone', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true, exploreEvery: 1_000 });
    drive(sizer, peakAtFour, 100);
    expect(sizer.bestSize).toBe(4);
    expect(sizer.limit(5)).toBe(5);
    expect(sizer.limit(6)).toBe(4);
    // Not past the deadline budget: 5 rows would be a call of the size 8, measured at 8 ms.
    expect(sizer.limit(5, 7)).toBe(4);
  });

  it('keeps calls short enough for the tightest deadline', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: true, exploreEvery: 4 });
    // Every size measured: calls of 8 rows take 1.8 ms, of 16 rows 2.6 ms, of 32 rows 4.2 ms.
    for (const rows of bucketSizes(32))
      for (let i = 0; i < 3; i += 1) sizer.record(rows, linear(rows));
    expect(sizer.bestSize).toBe(32);
    expect(sizer.limit(1_000, 3)).toBe(16);
    expect(sizer.limit(1_000, 2)).toBe(8);
    // A deadline already missed still runs, one row at a time.
    expect(sizer.limit(1_000, -5)).toBe(1);
  });

  it('skips the first call of each size, which pays for allocations', () => {
    const sizer = createBatchSizer({ maxBatchSize: 8, adaptive: true });
    sizer.record(8, 500);
    sizer.record(8, 2);
    sizer.record(8, 2);
    expect(sizer.stats().perSize).toEqual([{ size: 8, rowsPerSecond: 4000, meanMs: 2, calls: 3 }]);
  });

  it('ignores calls larger than the cap and calls without a time', () => {
    const sizer = createBatchSizer({ maxBatchSize: 8, adaptive: true });
    sizer.record(500, 10);
    sizer.record(4, Number.NaN);
    sizer.record(0, 1);
    expect(sizer.stats().perSize).toEqual([]);
  });

  it('always allows the cap when not adaptive, and still reports what it measured', () => {
    const sizer = createBatchSizer({ maxBatchSize: 32, adaptive: false });
    const sizes = drive(sizer, peakAtFour, 50);
    expect(new Set(sizes)).toEqual(new Set([32]));
    expect(sizer.stats()).toMatchObject({
      adaptive: false,
      bestSize: 32,
      perSize: [{ size: 32, calls: 50 }],
    });
  });
});
