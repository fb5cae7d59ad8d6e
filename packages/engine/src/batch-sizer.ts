/**
 * @file The adaptive batch-size policy: which size of onnxruntime call still pays for one model
 * version. Pure (no clock, no randomness): the batcher measures, this module decides.
 */

/** How a sizer learns; every field but `maxBatchSize` is optional with the default shown. */
export interface BatchSizerOptions {
  /** The hard cap: most rows in one call (model.json `batching.maxBatchSize`). */
  maxBatchSize: number;
  /** Learn the size; false always allows `maxBatchSize` (model.json `batching.adaptive`). */
  adaptive: boolean;
  /** One call in this many, while a full call of the best size waits, tries a neighbouring size. Default 16. */
  exploreEvery?: number;
  /** Weight of a new measurement in a size's moving means, in (0, 1]. Default 0.25. */
  smoothing?: number;
  /** Measured calls (after the first, which is skipped) before a size is judged. Default 2. */
  minCalls?: number;
  /** How much better (0.05 = 5 %) another size must measure to replace the best. Default 0.05. */
  margin?: number;
}

/** What a sizer learned about one size. */
export interface BatchSizeStats {
  /** The largest number of rows of the calls counted here (a power of two, or the cap). */
  size: number;
  /** Moving mean of rows per second over this size's calls; 0 until one is measured. */
  rowsPerSecond: number;
  /** Moving mean of milliseconds per call. */
  meanMs: number;
  /** Calls of this size so far, the skipped first one included. */
  calls: number;
}

/** What a model version's batcher has learned. */
export interface BatchSizerStats {
  adaptive: boolean;
  maxBatchSize: number;
  /** The size calls are capped at now, exploration aside. */
  bestSize: number;
  /** Sizes with at least one call, smallest first. */
  perSize: BatchSizeStats[];
}

/** Learns per size of call how many rows per second it delivers, and picks the best size. */
export interface BatchSizer {
  /**
   * Most rows the next call may join. `queuedRows` is what waits to be joined; `budgetMs` the
   * time left before the tightest deadline among them (default none).
   */
  limit(queuedRows: number, budgetMs?: number): number;
  /** Records one call of `rows` rows whose onnxruntime run took `ms` milliseconds. */
  record(rows: number, ms: number): void;
  /** The size calls are capped at now, exploration aside. */
  readonly bestSize: number;
  /** The moving mean of ms per call of the size `rows` falls in; undefined until one is measured. */
  meanMs(rows: number): number | undefined;
  stats(): BatchSizerStats;
}

interface Bucket {
  readonly size: number;
  calls: number;
  /** Measured calls (the first of each size is skipped). */
  samples: number;
  meanRows: number;
  meanMs: number;
  /** The sizer's call count at this size's latest measurement. */
  seenAt: number;
}

/** The most a call's time counts, in means of its size (see `record`). */
const OUTLIER = 2;

/** Call sizes 1, 2, 4, … up to the cap, and the cap itself when it is no power of two. */
export function bucketSizes(maxBatchSize: number): number[] {
  const sizes: number[] = [];
  for (let size = 1; size < maxBatchSize; size *= 2) sizes.push(size);
  sizes.push(maxBatchSize);
  return sizes;
}

/**
 * Creates the policy. It starts at the cap; once the best size is judged it tries an unjudged
 * neighbour at once, and then one call in `exploreEvery` (when the queue is long enough for the
 * size to matter) a neighbour, alternately smaller and larger, so it follows the load and the
 * machine. The best size is the judged one with the most rows per second, capped to the largest
 * size whose mean call fits the deadline budget.
 */
export function createBatchSizer(options: BatchSizerOptions): BatchSizer {
  const exploreEvery = Math.max(2, options.exploreEvery ?? 16);
  const smoothing = options.smoothing ?? 0.25;
  const minCalls = Math.max(1, options.minCalls ?? 2);
  const margin = options.margin ?? 0.05;
  const buckets: Bucket[] = bucketSizes(options.maxBatchSize).map((size) => ({
    size,
    calls: 0,
    samples: 0,
    meanRows: 0,
    meanMs: 0,
    seenAt: 0,
  }));
  const top = buckets.length - 1;
  let best = top;
  let binding = 0;
  let explored = 0;
  let recorded = 0;
  /** A size that measured better long ago, to measure again before it replaces the best. */
  let recheck = -1;

  const judged = (i: number): boolean => (buckets[i]?.samples ?? 0) >= minCalls;
  /** Whether the latest call measured this size. */
  const fresh = (i: number): boolean => buckets[i]?.seenAt === recorded;
  const rate = (b: Bucket): number => (b.meanMs > 0 ? (1000 * b.meanRows) / b.meanMs : 0);
  const indexOf = (rows: number): number => {
    const i = buckets.findIndex((b) => b.size >= rows);
    return i === -1 ? top : i;
  };

  const rejudge = (): void => {
    // The cap stays the size to try until it is judged: at light load calls are small, and a
    // small size judged then must not hold back the first burst.
    if (!judged(best)) return;
    let leader = -1;
    buckets.forEach((b, i) => {
      if (judged(i) && (leader === -1 || rate(b) > rate(buckets[leader] as Bucket))) leader = i;
    });
    if (leader === -1 || leader === best) return;
    if (rate(buckets[leader] as Bucket) <= rate(buckets[best] as Bucket) * (1 + margin)) return;
    // A size replaces the best only on a measurement of its own just now: when the machine slows
    // down, the best size's mean follows while the others keep their old, better figures.
    if (fresh(leader)) best = leader;
    else recheck = leader;
  };

  /** The size to try next while a full call of the best size waits. */
  const explore = (): number => {
    const below = best - 1;
    const above = best < top ? best + 1 : -1;
    if (!judged(best)) return best;
    if (below >= 0 && !judged(below)) return below;
    if (above !== -1 && !judged(above)) return above;
    if (recheck !== -1) {
      const again = recheck;
      recheck = -1;
      return again;
    }
    binding += 1;
    if (binding % exploreEvery !== 0) return best;
    explored += 1;
    const candidates = [below, above].filter((i) => i >= 0);
    return candidates[explored % candidates.length] ?? best;
  };

  /** The largest size at or below `index` whose mean call fits the budget (unjudged ones may). */
  const withinBudget = (index: number, budgetMs: number): number => {
    for (let i = index; i > 0; i -= 1) {
      const b = buckets[i] as Bucket;
      if (!judged(i) || b.meanMs <= budgetMs) return i;
    }
    return 0;
  };

  /**
   * A call of `size` rows that would leave fewer than half as many waiting takes them too, when
   * the cap and the budget allow: the remainder would run as a call of its own, which costs a
   * small model nearly as much as a full one (an inline iris call of 1 row took 0.28 ms, of 16
   * rows 0.25 ms, when calls of 17 rows were split at a best size of 16).
   */
  const withRemainder = (size: number, queuedRows: number, budgetMs: number): number => {
    const left = queuedRows - size;
    if (left <= 0 || left >= size / 2) return size;
    const all = Math.min(queuedRows, options.maxBatchSize);
    const index = indexOf(all);
    return withinBudget(index, budgetMs) === index ? all : size;
  };

  const bestSize = (): number =>
    options.adaptive ? (buckets[best] as Bucket).size : options.maxBatchSize;

  return {
    get bestSize() {
      return bestSize();
    },
    meanMs(rows) {
      const b = buckets[indexOf(rows)] as Bucket;
      return b.samples > 0 ? b.meanMs : undefined;
    },
    limit(queuedRows, budgetMs = Number.POSITIVE_INFINITY) {
      if (!options.adaptive) return options.maxBatchSize;
      // A full call is all a busy worker ever has waiting when it holds two calls' worth of jobs
      // per thread (one running, one waiting): requiring more kept such a worker at the cap.
      const index = queuedRows >= (buckets[best] as Bucket).size ? explore() : best;
      return withRemainder(
        (buckets[withinBudget(index, budgetMs)] as Bucket).size,
        queuedRows,
        budgetMs,
      );
    },
    record(rows, ms) {
      if (rows < 1 || rows > options.maxBatchSize || !(ms >= 0)) return;
      const b = buckets[indexOf(rows)] as Bucket;
      b.calls += 1;
      // The first call of a size pays onnxruntime's allocations for that shape: not typical.
      if (b.calls === 1) return;
      recorded += 1;
      // A size measured long ago (only tried now and then) has a stale mean: move it further.
      const stale = recorded - b.seenAt > exploreEvery;
      const weight = b.samples === 0 ? 1 : stale ? Math.max(smoothing, 0.5) : smoothing;
      // A call that took far longer than its size's mean (a garbage collection, the other core's
      // burst) counts as OUTLIER times the mean: one such call moved a mean of 0.25 ms by 0.5 ms,
      // and the best size flipped with it. A lasting slowdown still moves the mean in a few calls.
      const sample = b.samples === 0 ? ms : Math.min(ms, OUTLIER * b.meanMs);
      b.seenAt = recorded;
      b.meanRows += weight * (rows - b.meanRows);
      b.meanMs += weight * (Math.max(sample, 1e-3) - b.meanMs);
      b.samples += 1;
      if (options.adaptive) rejudge();
    },
    stats() {
      return {
        adaptive: options.adaptive,
        maxBatchSize: options.maxBatchSize,
        bestSize: bestSize(),
        perSize: buckets
          .filter((b) => b.calls > 0)
          .map((b) => ({ size: b.size, rowsPerSecond: rate(b), meanMs: b.meanMs, calls: b.calls })),
      };
    },
  };
}
