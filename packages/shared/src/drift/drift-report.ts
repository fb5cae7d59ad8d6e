/**
 * @file Drift in Redis and the report read from it. Workers add their sampled statistics to one
 * hash per time slice of a version (HINCRBY, so workers add up); readers sum the slices of a
 * window and score them against the version's baseline. Every key is of one model (modelKey).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { modelKey } from '../naming.js';
import { AlertsSchema, BaselineSchema, type Baseline } from './baseline.js';
import { chiSquareTest, ksTest, psi } from './drift-math.js';

/** The set of a model's versions that have a baseline published. */
export const driftVersionsKey = (prefix: string, model: string): string =>
  modelKey(prefix, model, 'drift');

/** A version's published drift settings (DriftMeta, JSON). */
export const driftMetaKey = (prefix: string, model: string, version: string): string =>
  modelKey(prefix, model, 'drift', version);

/** The sorted set of a baseline's time slices (member and score: the slice's start, epoch ms). */
export const driftSlicesKey = (
  prefix: string,
  model: string,
  version: string,
  id: string,
): string => modelKey(prefix, model, 'drift', version, id, 'slices');

/** The hash of one time slice's statistics: `<f>:<bin>` counts, `<f>:n`, `<f>:s`, `<f>:q`. */
export const driftSliceKey = (
  prefix: string,
  model: string,
  version: string,
  id: string,
  start: number,
): string => modelKey(prefix, model, 'drift', version, id, String(start));

/** The set of a model's versions that have model.json `alerts` published. */
export const alertVersionsKey = (prefix: string, model: string): string =>
  modelKey(prefix, model, 'alerts');

/** A version's model.json `alerts` (JSON), published by the workers that serve it. */
export const alertsKey = (prefix: string, model: string, version: string): string =>
  modelKey(prefix, model, 'alerts', version);

/** Present while a version's metric is past its alert threshold: the crossing already fired. */
export const alertStateKey = (
  prefix: string,
  model: string,
  version: string,
  metric: string,
): string => modelKey(prefix, model, 'alert', version, metric);

/** What a worker publishes of a version it measures: its baseline and alerts, by baseline id. */
export const DriftMetaSchema = z
  .object({
    /** A hash of the baseline: statistics of another baseline's bins are kept apart. */
    id: z.string().min(1).max(64),
    /** Feature names, in the order of the slices' field numbers. */
    features: z.array(z.string()).min(1),
    baseline: BaselineSchema,
    alerts: AlertsSchema.optional(),
  })
  .strict();

export type DriftMeta = z.infer<typeof DriftMetaSchema>;

/** The id of a baseline: 16 hex digits of the SHA-256 of its JSON text. */
export function baselineId(baseline: Baseline): string {
  return createHash('sha256').update(JSON.stringify(baseline)).digest('hex').slice(0, 16);
}

/** A feature's statistics over a window: counts per baseline bin, and count, sum, sum of squares. */
export interface FeatureCounts {
  bins: number[];
  n: number;
  sum: number;
  squares: number;
}

/** Adds one slice's hash fields to per-feature counts (created on first use). */
export function addSliceFields(
  counts: FeatureCounts[],
  meta: DriftMeta,
  fields: Readonly<Record<string, string>>,
): void {
  meta.features.forEach((name, index) => {
    const bins = meta.baseline.features[name]?.histogram.counts.length ?? 0;
    const feature = (counts[index] ??= {
      bins: new Array<number>(bins).fill(0),
      n: 0,
      sum: 0,
      squares: 0,
    });
    const read = (part: string) => Number(fields[`${index}:${part}`] ?? 0) || 0;
    for (let bin = 0; bin < bins; bin++)
      feature.bins[bin] = (feature.bins[bin] ?? 0) + read(String(bin));
    feature.n += read('n');
    feature.sum += read('s');
    feature.squares += read('q');
  });
}

const finiteOrNull = (value: number): number | null => (Number.isFinite(value) ? value : null);

const TestSchema = z.object({ statistic: z.number(), pValue: z.number() }).strict();

export const DriftFeatureScoreSchema = z
  .object({
    name: z.string(),
    /** Values seen in the window. */
    rows: z.number().int().nonnegative(),
    /** Population stability index against the baseline's bins; null without values. */
    psi: z.number().nullable(),
    /** Two-sample Kolmogorov–Smirnov on the binned values, against the baseline's counts. */
    ks: TestSchema.nullable(),
    /** Chi-square test of homogeneity of the binned values and the baseline's counts. */
    chiSquare: TestSchema.extend({ df: z.number().int() }).nullable(),
    mean: z.number().nullable(),
    std: z.number().nullable(),
    baselineMean: z.number(),
    baselineStd: z.number(),
  })
  .strict();

export type DriftFeatureScore = z.infer<typeof DriftFeatureScoreSchema>;

export const DriftVersionSchema = z
  .object({
    version: z.string(),
    /** Rows seen in the window (the most values of any feature). */
    rows: z.number().int().nonnegative(),
    /** The version's drift score: the largest PSI of its features; null without values. */
    score: z.number().nullable(),
    features: z.array(DriftFeatureScoreSchema),
    /** The version's model.json `alerts`, when it has some. */
    alerts: AlertsSchema.optional(),
  })
  .strict();

export type DriftVersion = z.infer<typeof DriftVersionSchema>;

/** `client.drift(model)`, `GET /v1/models/{name}/drift`: each version with a baseline. */
export const DriftReportSchema = z
  .object({
    model: z.string(),
    /** The window read, in ms, ending now. */
    windowMs: z.number().int().positive(),
    versions: z.array(DriftVersionSchema),
  })
  .strict();

export type DriftReport = z.infer<typeof DriftReportSchema>;

/** Scores a version's window of counts against its baseline, feature by feature. */
export function scoreDrift(
  version: string,
  meta: DriftMeta,
  counts: readonly FeatureCounts[],
): DriftVersion {
  const features = meta.features.map((name, index): DriftFeatureScore => {
    const base = meta.baseline.features[name];
    const seen = counts[index];
    const n = seen?.n ?? 0;
    const expected = base?.histogram.counts ?? [];
    const actual = seen?.bins ?? [];
    const mean = n > 0 ? (seen?.sum ?? 0) / n : Number.NaN;
    const variance = n > 0 ? Math.max(0, (seen?.squares ?? 0) / n - mean * mean) : Number.NaN;
    const ks = n > 0 ? ksTest(expected, actual) : undefined;
    const chi = n > 0 ? chiSquareTest(expected, actual) : undefined;
    return {
      name,
      rows: n,
      psi: n > 0 ? finiteOrNull(psi(expected, actual)) : null,
      ks: ks && Number.isFinite(ks.statistic) ? ks : null,
      chiSquare: chi && Number.isFinite(chi.statistic) ? chi : null,
      mean: finiteOrNull(mean),
      std: finiteOrNull(Math.sqrt(variance)),
      baselineMean: base?.mean ?? 0,
      baselineStd: base?.std ?? 0,
    };
  });
  const scores = features.map((f) => f.psi).filter((p): p is number => p !== null);
  return {
    version,
    rows: Math.max(0, ...features.map((f) => f.rows)),
    score: scores.length > 0 ? Math.max(...scores) : null,
    features,
    ...(meta.alerts && { alerts: meta.alerts }),
  };
}
