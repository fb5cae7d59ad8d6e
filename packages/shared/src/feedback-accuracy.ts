import { z } from 'zod';
import {
  ACCURACY_BUCKET_MS,
  ACCURACY_WINDOWS,
  type AccuracyWindow,
  type ModelAccuracy,
  type WindowAccuracy,
} from './feedback.js';
import type { FeedbackScore } from './feedback-score.js';

/**
 * What one version's feedback adds up to in one bucket: `n` labelled rows, `c` of them correct, `r`
 * valued rows, `a` and `s` their sums of absolute and squared errors (the stats of accuracyKey).
 */
export interface AccuracySums {
  n: number;
  c: number;
  r: number;
  a: number;
  s: number;
}

/** One version's sums in the bucket that starts at `bucket` (ms since the epoch). */
export interface AccuracyCount {
  version: string;
  bucket: number;
  sums: Readonly<Partial<AccuracySums>>;
}

/** Options of `client.accuracy`. */
export const AccuracyQuerySchema = z
  .object({
    /** End of the windows, ms since the epoch; default now (by the clock that counts feedback). */
    at: z.number().int().optional(),
  })
  .strict();

export type AccuracyQuery = z.input<typeof AccuracyQuerySchema>;

/** How long a bucket's counts matter, ms: the longest window and the bucket that straddles it. */
export const ACCURACY_KEPT_MS = ACCURACY_WINDOWS['24h'] + ACCURACY_BUCKET_MS;

const WINDOW_NAMES = Object.keys(ACCURACY_WINDOWS) as AccuracyWindow[];

const zeroSums = (): AccuracySums => ({ n: 0, c: 0, r: 0, a: 0, s: 0 });

/** The start of the accuracy bucket that holds `ms`. */
export function accuracyBucketOf(ms: number): number {
  return ms - (ms % ACCURACY_BUCKET_MS);
}

/** What a scored feedback adds to its version's bucket: labels to n and c, values to r, a and s. */
export function sumsOfScore(score: FeedbackScore): Partial<AccuracySums> {
  return score.kind === 'label'
    ? { n: score.rows, c: score.correct }
    : { r: score.rows, a: score.absSum, s: score.sqSum };
}

function windowOf(sums: AccuracySums): WindowAccuracy {
  return {
    labelled: sums.n,
    correct: sums.c,
    accuracy: sums.n > 0 ? sums.c / sums.n : null,
    valued: sums.r,
    mae: sums.r > 0 ? sums.a / sums.r : null,
    rmse: sums.r > 0 ? Math.sqrt(sums.s / sums.r) : null,
  };
}

/**
 * A model's accuracy and error per version over the ACCURACY_WINDOWS ending at `at`, from its
 * bucket counts. A bucket counts in a window when any of it lies in the window (windows are read
 * in whole buckets); buckets that start after `at` do not count. Versions in numeric order.
 */
export function accuracyOverWindows(
  model: string,
  at: number,
  counts: Iterable<AccuracyCount>,
): ModelAccuracy {
  const sums = new Map<string, Record<AccuracyWindow, AccuracySums>>();
  for (const { version, bucket, sums: add } of counts) {
    if (!Number.isFinite(bucket) || bucket > at) continue;
    let perWindow = sums.get(version);
    if (!perWindow) {
      perWindow = { '5m': zeroSums(), '1h': zeroSums(), '24h': zeroSums() };
      sums.set(version, perWindow);
    }
    for (const window of WINDOW_NAMES) {
      if (bucket + ACCURACY_BUCKET_MS <= at - ACCURACY_WINDOWS[window]) continue;
      const target = perWindow[window];
      for (const stat of Object.keys(add) as (keyof AccuracySums)[]) target[stat] += add[stat] ?? 0;
    }
  }
  const versions = [...sums]
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([version, perWindow]) => ({
      version,
      windows: {
        '5m': windowOf(perWindow['5m']),
        '1h': windowOf(perWindow['1h']),
        '24h': windowOf(perWindow['24h']),
      },
    }));
  return { model, at, versions };
}
