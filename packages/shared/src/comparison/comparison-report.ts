import { z } from 'zod';
import { histogramQuantile } from './comparison-stats.js';

/** Where a comparison's answers came from: live shadow copies, or a replay of logged inputs. */
export const ComparisonSourceSchema = z.enum(['shadow', 'replay']);
export type ComparisonSource = z.infer<typeof ComparisonSourceSchema>;

/** One output of a version pair's comparison report. */
export const OutputReportSchema = z
  .object({
    name: z.string(),
    /** Share (0-1) of class slices with the same top class; null when the output is not classes. */
    agreement: z.number().min(0).max(1).nullable(),
    /** Class slices compared (rows of a score output, elements of a label output). */
    units: z.number().int().nonnegative(),
    /** Float elements compared. */
    elements: z.number().int().nonnegative(),
    /** Largest absolute difference of a float element; null when none was compared. */
    maxAbs: z.number().nonnegative().nullable(),
    /** Largest relative difference |a-b|/max(|a|,|b|); null when no float element was compared. */
    maxRel: z.number().nonnegative().nullable(),
    /** Mean absolute difference of the float elements; null when none was compared. */
    meanAbs: z.number().nonnegative().nullable(),
    /** Answers whose output differed in dtype or shape (counted as disagreeing). */
    mismatched: z.number().int().nonnegative(),
  })
  .strict();
export type OutputReport = z.infer<typeof OutputReportSchema>;

/** Latency of one side of a version pair, from the compared answers. */
export const SideLatencySchema = z
  .object({
    /** Answers timed. */
    count: z.number().int().nonnegative(),
    /** Median engine time in ms (upper edge of its histogram bucket, within 19 %); null when none. */
    p50Ms: z.number().nonnegative().nullable(),
    /** 95th percentile engine time in ms, as p50Ms. */
    p95Ms: z.number().nonnegative().nullable(),
    /** Mean wait in the queue in ms; null when unknown (logged answers). */
    meanQueuedMs: z.number().nonnegative().nullable(),
  })
  .strict();
export type SideLatency = z.infer<typeof SideLatencySchema>;

/** What `conveyor models compare` and `client.compare` show for one version pair. */
export const ComparisonReportSchema = z
  .object({
    source: ComparisonSourceSchema,
    model: z.string(),
    /** The version that served the answers (shadow) or logged them (replay). */
    serving: z.string(),
    /** The shadow or replayed version. */
    candidate: z.string(),
    /** Answers compared. */
    compared: z.number().int().nonnegative(),
    /** Copies never compared: not sent (no worker, backlog, incompatible inputs) or failed. */
    dropped: z.number().int().nonnegative(),
    droppedBy: z.record(z.string(), z.number().int().nonnegative()),
    outputs: z.array(OutputReportSchema),
    latency: z.object({ serving: SideLatencySchema, candidate: SideLatencySchema }).strict(),
    /** Last update, ms since the epoch (the Redis server's clock); null before any. */
    updatedAt: z.number().int().nonnegative().nullable(),
  })
  .strict();
export type ComparisonReport = z.infer<typeof ComparisonReportSchema>;

/** The pair a report is about. */
export interface ComparisonPair {
  source: ComparisonSource;
  model: string;
  serving: string;
  candidate: string;
}

const num = (raw: string | undefined): number => {
  const n = Number(raw);
  return Number.isFinite(n) ? n : 0;
};

function sideLatency(hash: Readonly<Record<string, string>>, side: 's' | 'c'): SideLatency {
  const counts = new Map<number, number>();
  for (const [field, value] of Object.entries(hash)) {
    const match = /^lat:([sc]):(\d+)$/.exec(field);
    if (match?.[1] === side) counts.set(Number(match[2]), num(value));
  }
  const queued = num(hash[`qn:${side}`]);
  return {
    count: [...counts.values()].reduce((a, b) => a + b, 0),
    p50Ms: histogramQuantile(counts, 0.5) ?? null,
    p95Ms: histogramQuantile(counts, 0.95) ?? null,
    meanQueuedMs: queued > 0 ? num(hash[`q:${side}`]) / queued : null,
  };
}

function outputReport(name: string, stats: ReadonlyMap<string, number>): OutputReport {
  const get = (stat: string) => stats.get(stat) ?? 0;
  const units = Math.round(get('units'));
  const elements = Math.round(get('elements'));
  return {
    name,
    agreement: stats.has('classes') && units > 0 ? Math.min(1, get('agree') / units) : null,
    units,
    elements,
    maxAbs: elements > 0 ? get('maxabs') : null,
    maxRel: elements > 0 ? get('maxrel') : null,
    meanAbs: elements > 0 ? get('sumabs') / elements : null,
    mismatched: Math.round(get('mismatched')),
  };
}

/** Reads a version pair's hash (HGETALL) into its report; an empty hash gives an empty report. */
export function comparisonReport(
  pair: ComparisonPair,
  hash: Readonly<Record<string, string>>,
): ComparisonReport {
  const outputs = new Map<string, Map<string, number>>();
  const droppedBy: Record<string, number> = {};
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith('dropped:')) droppedBy[field.slice(8)] = Math.round(num(value));
    if (!field.startsWith('o:')) continue;
    const cut = field.lastIndexOf(':');
    const name = field.slice(2, cut);
    const stats = outputs.get(name) ?? new Map<string, number>();
    stats.set(field.slice(cut + 1), num(value));
    outputs.set(name, stats);
  }
  return {
    ...pair,
    compared: Math.round(num(hash.n)),
    dropped: Object.values(droppedBy).reduce((a, b) => a + b, 0),
    droppedBy,
    outputs: [...outputs.keys()]
      .sort()
      .map((name) => outputReport(name, outputs.get(name) ?? new Map())),
    latency: { serving: sideLatency(hash, 's'), candidate: sideLatency(hash, 'c') },
    updatedAt: hash.at === undefined ? null : Math.round(num(hash.at)),
  };
}
