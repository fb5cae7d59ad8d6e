/**
 * @file model.json's `baseline` (what the inputs looked like in training) and `alerts` (when to
 * call a webhook), and how a baseline is computed from training data.
 */
import { z } from 'zod';
import { ConveyorError } from '../errors.js';

/** A feature's histogram: `edges` ascending, one more than `counts`. Outer bins are open-ended. */
export const HistogramSchema = z
  .object({
    edges: z.array(z.number()).min(2).max(1001),
    counts: z.array(z.number().int().nonnegative()).min(1).max(1000),
  })
  .strict()
  .superRefine((histogram, ctx) => {
    if (histogram.edges.length !== histogram.counts.length + 1)
      ctx.addIssue({ code: 'custom', path: ['edges'], message: 'one edge more than counts' });
    for (let i = 1; i < histogram.edges.length; i++) {
      if ((histogram.edges[i] as number) <= (histogram.edges[i - 1] as number)) {
        ctx.addIssue({ code: 'custom', path: ['edges', i], message: 'edges strictly ascending' });
        break;
      }
    }
  });

export type Histogram = z.infer<typeof HistogramSchema>;

export const FeatureBaselineSchema = z
  .object({
    mean: z.number(),
    std: z.number().nonnegative(),
    histogram: HistogramSchema,
  })
  .strict();

export type FeatureBaseline = z.infer<typeof FeatureBaselineSchema>;

/**
 * model.json `baseline`: per input feature, its mean, standard deviation and histogram over the
 * training data, and how many rows that data had. Written by `conveyor baseline`.
 */
export const BaselineSchema = z
  .object({
    features: z
      .record(z.string().min(1).max(200), FeatureBaselineSchema)
      .refine((features) => Object.keys(features).length > 0, { message: 'at least one feature' }),
    rows: z.number().int().positive(),
  })
  .strict();

export type Baseline = z.infer<typeof BaselineSchema>;

/** Longest window an alert or a drift read may cover: the statistics are kept this long. */
export const DRIFT_RETENTION_MS = 24 * 3600 * 1000;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Parses a window such as `90s`, `15m`, `1h` or `500ms` to milliseconds; undefined if malformed. */
export function parseWindow(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms > 0 && ms <= DRIFT_RETENTION_MS ? Math.round(ms) : undefined;
}

/** A window `1h`, `15m`, `90s`, `500ms`, up to 24h. */
export const WindowSchema = z.string().refine((text) => parseWindow(text) !== undefined, {
  message: 'a window such as 1h, 15m, 90s or 500ms, at most 24h',
});

/**
 * model.json `alerts`: thresholds the producer checks every DRIFT_ALERT_INTERVAL_MS, and the
 * webhook it calls, signed, once each time a metric crosses one (again only after it recovered).
 */
export const AlertsSchema = z
  .object({
    /** Fire when the version's drift score (largest PSI of a feature) rises above this. */
    driftPsi: z.number().positive().optional(),
    /** Fire when the version's live accuracy falls below this (0 to 1). */
    accuracyBelow: z.number().min(0).max(1).optional(),
    /** The window the metrics are read over. Default 1h. */
    window: WindowSchema.default('1h'),
    /** Fewest rows (drift) or labelled predictions (accuracy) in the window to judge it. Default 100. */
    minRows: z.number().int().min(1).default(100),
    /** Where the signed event is POSTed (WEBHOOK_ALLOWED_HOSTS and WEBHOOK_ALLOW_PRIVATE apply). */
    webhook: z.string().url(),
  })
  .strict();

export type Alerts = z.infer<typeof AlertsSchema>;

/**
 * The bin of `value` over `edges`: i where edges[i] ≤ value < edges[i+1], the last bin closed on
 * the right; values beyond the outer edges fall in the outer bins. -1 for NaN.
 */
export function binIndex(edges: readonly number[], value: number): number {
  if (Number.isNaN(value)) return -1;
  const last = edges.length - 2;
  if (value < (edges[1] as number)) return 0;
  if (value >= (edges[last] as number)) return last;
  let lo = 1;
  let hi = last;
  // Invariant: edges[lo] <= value < edges[hi].
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (value >= (edges[mid] as number)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The q-quantile of sorted values, linearly interpolated (numpy's default). */
function quantile(sorted: Float64Array, q: number): number {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const low = sorted[below] as number;
  const high = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  return low + (high - low) * (position - below);
}

/**
 * Edges of at most `bins` bins over sorted values: their quantiles, repeated edges merged; or, for
 * a feature of at most `bins` distinct values, one bin per value (edges halfway between them).
 */
function binEdges(sorted: Float64Array, bins: number): number[] {
  const distinct: number[] = [];
  for (const v of sorted) {
    if (distinct.length === 0 || v > (distinct.at(-1) as number)) distinct.push(v);
    if (distinct.length > bins) break;
  }
  if (distinct.length === 1) {
    // A constant: values below, at and above it each have a bin.
    const v = distinct[0] as number;
    return [v - 1, v - 0.5, v + 0.5, v + 1];
  }
  if (distinct.length <= bins) {
    const middles = distinct.slice(1).map((v, i) => ((distinct[i] as number) + v) / 2);
    return [distinct[0] as number, ...middles, distinct.at(-1) as number];
  }
  const edges: number[] = [];
  for (let i = 0; i <= bins; i++) {
    const edge = quantile(sorted, i / bins);
    if (edges.length === 0 || edge > (edges.at(-1) as number)) edges.push(edge);
  }
  return edges;
}

/**
 * A feature's baseline from its values: mean, population standard deviation, and a histogram of at
 * most `bins` bins whose edges are the values' quantiles (see binEdges). Non-finite values are left
 * out.
 */
export function featureBaseline(values: readonly number[], bins = 10): FeatureBaseline {
  const finite = Float64Array.from(values.filter((v) => Number.isFinite(v))).sort();
  if (finite.length === 0) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      'a feature has no finite value to build its baseline',
    );
  }
  let total = 0;
  for (const v of finite) total += v;
  const mean = total / finite.length;
  let squares = 0;
  for (const v of finite) squares += (v - mean) ** 2;
  const edges = binEdges(finite, bins);
  const counts = new Array<number>(edges.length - 1).fill(0);
  for (const v of finite) counts[binIndex(edges, v)]! += 1;
  return { mean, std: Math.sqrt(squares / finite.length), histogram: { edges, counts } };
}

/** A baseline from columns of values by feature name (`bins` bins each, default 10). */
export function computeBaseline(
  columns: ReadonlyMap<string, readonly number[]>,
  bins = 10,
): Baseline {
  const features: Record<string, FeatureBaseline> = {};
  let rows = 0;
  for (const [name, values] of columns) {
    features[name] = featureBaseline(values, bins);
    rows = Math.max(rows, values.length);
  }
  return BaselineSchema.parse({ features, rows });
}
