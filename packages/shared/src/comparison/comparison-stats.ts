import type { OutputComparison } from './compare-outputs.js';

/**
 * The totals of a version pair's comparisons kept in one Redis hash (see comparisonKey): what to
 * add (`incr`, HINCRBYFLOAT) and what to raise (`max`) per compared answer, and how to read the
 * hash back. Field names: `n` compared answers, `o:<output>:<stat>` per output, `lat:<side>:<b>`
 * latency histogram buckets, `q:<side>` summed queue waits, `dropped:<reason>`, `at` last update.
 */
export interface StatsUpdate {
  incr: Record<string, number>;
  max: Record<string, number>;
}

/** The two sides of a comparison: `s` the serving (or logged) answer, `c` the candidate's. */
export type Side = 's' | 'c';

/** Timings of one side of a compared answer, in ms. */
export interface SideTimings {
  /** From handing the inputs to the engine until it answered. */
  inferenceMs: number;
  /** From enqueue until a worker took the job; undefined when unknown (a logged answer). */
  queuedMs?: number | undefined;
}

/** Latency buckets grow by 2^(1/4) (about 19 %) from LATENCY_BASE_MS. */
const BUCKETS_PER_DOUBLING = 4;
const LATENCY_BASE_MS = 0.01;
const LAST_BUCKET = 127;

/** The histogram bucket of a latency: the first whose upper edge is at or above it. */
export function latencyBucket(ms: number): number {
  if (!(ms > LATENCY_BASE_MS)) return 0;
  const b = Math.ceil(BUCKETS_PER_DOUBLING * Math.log2(ms / LATENCY_BASE_MS) - 1e-9);
  return Math.min(LAST_BUCKET, b);
}

/** The upper edge of a bucket, in ms (rounded to 4 significant digits). */
export function bucketUpperMs(bucket: number): number {
  return Number((LATENCY_BASE_MS * 2 ** (bucket / BUCKETS_PER_DOUBLING)).toPrecision(4));
}

/**
 * The `q` quantile (0-1) of a histogram (bucket -> count), as the upper edge of the bucket that
 * holds it: at most one bucket (19 %) above the true value. Undefined for an empty histogram.
 */
export function histogramQuantile(
  counts: ReadonlyMap<number, number>,
  q: number,
): number | undefined {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const bucket of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(bucket) ?? 0;
    if (seen >= rank) return bucketUpperMs(bucket);
  }
  return undefined;
}

/** What one compared answer adds to its pair's hash. */
export function statsUpdate(
  outputs: readonly OutputComparison[],
  serving: SideTimings,
  candidate: SideTimings,
): StatsUpdate {
  const incr: Record<string, number> = { n: 1 };
  const max: Record<string, number> = {};
  for (const o of outputs) {
    const f = (stat: string) => `o:${o.name}:${stat}`;
    incr[f('units')] = o.units;
    incr[f('agree')] = o.agree;
    incr[f('elements')] = o.elements;
    incr[f('sumabs')] = o.sumAbs;
    incr[f('mismatched')] = o.mismatched;
    if (o.classes) max[f('classes')] = 1;
    max[f('maxabs')] = o.maxAbs;
    max[f('maxrel')] = o.maxRel;
  }
  for (const [side, t] of [
    ['s', serving],
    ['c', candidate],
  ] as const) {
    const bucket = `lat:${side}:${latencyBucket(t.inferenceMs)}`;
    incr[bucket] = (incr[bucket] ?? 0) + 1;
    if (t.queuedMs !== undefined) {
      incr[`q:${side}`] = t.queuedMs;
      incr[`qn:${side}`] = 1;
    }
  }
  return { incr, max };
}

/** Why a shadow copy was not sent (or a replayed job gave no answer). */
export const DROP_REASONS = [
  'no-worker',
  'backlog',
  'incompatible',
  'too-large',
  'error',
  'failed',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** What one dropped copy adds to its pair's hash. */
export function dropUpdate(reason: DropReason): StatsUpdate {
  return { incr: { [`dropped:${reason}`]: 1 }, max: {} };
}

/** Adds `more` into `into` (sums the `incr` fields, keeps the larger `max`): one write for many. */
export function mergeUpdate(into: StatsUpdate, more: StatsUpdate): StatsUpdate {
  for (const [field, value] of Object.entries(more.incr))
    into.incr[field] = (into.incr[field] ?? 0) + value;
  for (const [field, value] of Object.entries(more.max))
    into.max[field] = Math.max(into.max[field] ?? Number.NEGATIVE_INFINITY, value);
  return into;
}
