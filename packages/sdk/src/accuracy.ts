import type { Redis } from 'ioredis';
import {
  AccuracyQuerySchema,
  ModelNameSchema,
  accuracyKey,
  accuracyOverWindows,
  msFromRedisTime,
  parseOrThrow,
  type AccuracyCount,
  type AccuracyQuery,
  type AccuracySums,
  type ModelAccuracy,
} from '@conveyor/shared';

/** What the accuracy reader needs of a Redis connection (a single node or a cluster). */
export type AccuracyRedis = Pick<Redis, 'hgetall' | 'time'>;

const STATS = new Set<string>(['n', 'c', 'r', 'a', 's'] satisfies (keyof AccuracySums)[]);

/** The counts of an accuracy hash: one per field `<version>|<bucket start ms>|<stat>`. */
function* countsOf(fields: Record<string, string>): Generator<AccuracyCount> {
  for (const [field, value] of Object.entries(fields)) {
    const [version, start, stat] = field.split('|');
    if (!version || !stat || !STATS.has(stat)) continue;
    yield { version, bucket: Number(start), sums: { [stat]: Number(value) } };
  }
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
  options: AccuracyQuery = {},
): Promise<ModelAccuracy> {
  const name = parseOrThrow(ModelNameSchema, model, 'model name');
  const query = parseOrThrow(AccuracyQuerySchema, options, 'accuracy options');
  const [fields, time] = await Promise.all([
    redis.hgetall(accuracyKey(prefix, name)),
    query.at === undefined ? redis.time() : Promise.resolve(undefined),
  ]);
  const at = query.at ?? msFromRedisTime(time);
  return accuracyOverWindows(name, at, countsOf(fields));
}
