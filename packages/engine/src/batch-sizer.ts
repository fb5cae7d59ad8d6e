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
  /**
   * One call in this many, while a full call of the best size waits, tries a neighbouring size.
   * Default 16.
   */
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
  /**
   * Moving mean of this size's rows per second over the best size's at the same moment (each of
   * its calls' own rate over the best size's latest call's): 1.2 is 20 % faster than the best.
   */
  versusBest: number;
  /** Calls of this size measured against the best size (see `versusBest`). */
  pairs: number;
}

/**
 * Weight of a new call in a size's mean against the best size: a size other than the best is
 * measured now and then, so each call counts for much.
 */
const PAIR_WEIGHT = 0.5;

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
 * machine. Another size becomes the best when two of its calls, at different moments, each measured
 * more than `margin` more rows per second than the best size's calls around them; calls are
 * capped to the largest size whose mean call fits the deadline budget.
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
    versusBest: 0,
    pairs: 0,
  }));
  const top = buckets.length - 1;
  let best = top;
  let binding = 0;
  let explored = 0;
  let recorded = 0;
  /** Rows per second of the best size's latest measured call: what another size is held to. */
  let bestCallRate = 0;

  /** The best size is judged on its own calls, the others on calls measured against it. */
  const judged = (i: number): boolean => {
    const b = buckets[i];
    if (b === undefined) return false;
    return (i === best ? b.samples : b.pairs) >= minCalls;
  };
  const rate = (b: Bucket): number => (b.meanMs > 0 ? (1000 * b.meanRows) / b.meanMs : 0);
  const indexOf = (rows: number): number => {
    const i = buckets.findIndex((b) => b.size >= rows);
    return i === -1 ? top : i;
  };

  /**
   * Measures a call of a size other than the best against the best size's latest call (a moving
   * mean lags behind the host's speed, and after a slow spell a neighbour's call measured fast
   * against it). True when this call and the calls of its size before it measured more than
   * `margin` faster: two measurements at different moments, so that one call that ran in a quiet
   * instant of the host is not enough.
   */
  const pairFaster = (index: number, rows: number, ms: number): boolean => {
    const b = buckets[index] as Bucket;
    const reference = bestCallRate;
    // The cap stays the size to try until it is judged: at light load calls are small, and a
    // small size judged then must not hold back the first burst.
    if (index === best || !judged(best) || reference <= 0) return false;
    const versus = (1000 * rows) / ms / reference;
    const before = b.pairs === 0 ? undefined : b.versusBest;
    b.versusBest = before === undefined ? versus : before + PAIR_WEIGHT * (versus - before);
    b.pairs += 1;
    return (
      before !== undefined && before > 1 + margin && versus > 1 + margin && b.pairs >= minCalls
    );
  };

  /**
   * Makes `index` the best size, from its call of `rows` rows in `ms` just now. Sizes are compared
   * only against the best size at the same moment (pairFaster): a shared host's speed swings (2x
   * within seconds here) made sizes measured at different moments look better or worse than they
   * were, and the best size stayed at the cap for whole runs on an image model whose calls of 32
   * rows are 35 % slower a row than calls of 4.
   */
  const promote = (index: number, rows: number, ms: number): void => {
    const b = buckets[index] as Bucket;
    // What was measured against the old best is kept, against the new one.
    const scale = b.versusBest;
    for (const other of buckets) other.versusBest /= scale;
    const old = buckets[best] as Bucket;
    old.versusBest = 1 / scale;
    old.pairs = b.pairs;
    best = index;
    // Its mean was measured now and then: the call just now is what the others meet next.
    b.meanRows = rows;
    b.meanMs = ms;
    bestCallRate = (1000 * rows) / ms;
  };

  /** The size to try next while a full call of the best size waits. */
  const explore = (): number => {
    const below = best - 1;
    const above = best < top ? best + 1 : -1;
    if (!judged(best)) return best;
    if (below >= 0 && !judged(below)) return below;
    if (above !== -1 && !judged(above)) return above;
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
      if (b.samples < minCalls || b.meanMs <= budgetMs) return i;
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
      const index = indexOf(rows);
      const b = buckets[index] as Bucket;
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
      // Against the best, the call counts as it ran: the cap on outliers is relative to the size's
      // own mean, which is stale for a size measured now and then (one call of 8 rows at a third
      // of the host's speed, capped at twice its old mean, measured 20 % faster than the best).
      const callMs = Math.max(ms, 1e-3);
      if (index === best) bestCallRate = (1000 * rows) / callMs;
      if (pairFaster(index, rows, callMs) && options.adaptive) promote(index, rows, callMs);
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
