import type { Redis } from 'ioredis';
import {
  ACCURACY_BUCKET_MS,
  ACCURACY_WINDOWS,
  ModelNameSchema,
  accuracyKey,
  msFromRedisTime,
  parseOrThrow,
  type AccuracyWindow,
  type ModelAccuracy,
  type WindowAccuracy,
} from '@conveyor/shared';

/** What the accuracy reader needs of a Redis connection (a single node or a cluster). */
export type AccuracyRedis = Pick<Redis, 'hgetall' | 'time'>;

interface Sums {
  n: number;
  c: number;
  r: number;
  a: number;
  s: number;
}

const WINDOW_NAMES = Object.keys(ACCURACY_WINDOWS) as AccuracyWindow[];

function windowOf(sums: Sums): WindowAccuracy {
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
 * Live accuracy (classification: share of labelled rows whose top class was the label) and error
 * (regression: MAE and RMSE) of each version of a model that received feedback, over the last
 * 5 minutes, hour and 24 hours, counted in whole one-minute buckets by the Redis server's clock.
 * `at` reads the windows as they were (or will be) at another time, ms since the epoch.
 */
export async function readAccuracy(
  redis: AccuracyRedis,
  prefix: string,
  model: string,
  options: { at?: number } = {},
): Promise<ModelAccuracy> {
  const name = parseOrThrow(ModelNameSchema, model, 'model name');
  const [fields, time] = await Promise.all([
    redis.hgetall(accuracyKey(prefix, name)),
    options.at === undefined ? redis.time() : Promise.resolve(undefined),
  ]);
  const at = options.at ?? msFromRedisTime(time);
  const sums = new Map<string, Record<AccuracyWindow, Sums>>();
  for (const [field, value] of Object.entries(fields)) {
    const [version, start, stat] = field.split('|');
    const bucket = Number(start);
    if (!version || !stat || !Number.isFinite(bucket) || bucket > at) continue;
    let perWindow = sums.get(version);
    if (!perWindow) {
      perWindow = Object.fromEntries(
        WINDOW_NAMES.map((w) => [w, { n: 0, c: 0, r: 0, a: 0, s: 0 }]),
      ) as Record<AccuracyWindow, Sums>;
      sums.set(version, perWindow);
    }
    for (const window of WINDOW_NAMES) {
      // A bucket counts when any of it lies in the window: windows are read in whole buckets.
      if (bucket + ACCURACY_BUCKET_MS <= at - ACCURACY_WINDOWS[window]) continue;
      const target = perWindow[window];
      if (stat in target) target[stat as keyof Sums] += Number(value);
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
  return { model: name, at, versions };
}
