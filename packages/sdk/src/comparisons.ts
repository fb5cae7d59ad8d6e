import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  ComparisonSourceSchema,
  ModelNameSchema,
  ModelVersionSchema,
  RECORD_COMPARISON_SCRIPT,
  comparisonKey,
  comparisonMember,
  comparisonReport,
  comparisonsIndexKey,
  pairOfMember,
  parseOrThrow,
  type ComparisonPair,
  type ComparisonReport,
  type StatsUpdate,
} from '@conveyor/shared';

/** The commands comparisons use: a single Redis or a cluster (every key is one model's). */
export type ComparisonRedis = Pick<Redis, 'eval' | 'smembers' | 'hgetall' | 'del' | 'srem'>;

/** Which of a model's compared version pairs to read. */
export const CompareOptionsSchema = z
  .object({
    /** Only pairs whose serving (or logged) version is this one. */
    serving: ModelVersionSchema.optional(),
    /** Only pairs whose candidate (shadow or replayed) version is this one. */
    candidate: ModelVersionSchema.optional(),
    /** Only live shadow comparisons, or only replays. Default both. */
    source: ComparisonSourceSchema.optional(),
  })
  .strict();

export type CompareOptions = z.input<typeof CompareOptionsSchema>;

/**
 * The comparison reports of a model's version pairs (shadow and replay), read from Redis now,
 * ordered by source, serving and candidate version. ERR_VALIDATION for a bad name or option.
 */
export async function readComparisons(
  redis: ComparisonRedis,
  prefix: string,
  model: string,
  options: CompareOptions = {},
): Promise<ComparisonReport[]> {
  const name = parseOrThrow(ModelNameSchema, model, 'model name');
  const filter = parseOrThrow(CompareOptionsSchema, options, 'compare options');
  const members = await redis.smembers(comparisonsIndexKey(prefix, name));
  const pairs = members
    .map((member) => pairOfMember(name, member))
    .filter((pair): pair is ComparisonPair => pair !== undefined)
    .filter(
      (pair) =>
        (filter.serving === undefined || pair.serving === filter.serving) &&
        (filter.candidate === undefined || pair.candidate === filter.candidate) &&
        (filter.source === undefined || pair.source === filter.source),
    )
    .sort(
      (a, b) =>
        a.source.localeCompare(b.source) ||
        Number(a.serving) - Number(b.serving) ||
        Number(a.candidate) - Number(b.candidate),
    );
  const hashes = await Promise.all(pairs.map((pair) => redis.hgetall(comparisonKey(prefix, pair))));
  return pairs.map((pair, i) => comparisonReport(pair, hashes[i] ?? {}));
}

/** Adds a StatsUpdate to a pair's totals (and names the pair in the model's index). */
export async function recordComparison(
  redis: ComparisonRedis,
  prefix: string,
  pair: ComparisonPair,
  update: StatsUpdate,
): Promise<void> {
  await redis.eval(
    RECORD_COMPARISON_SCRIPT,
    2,
    comparisonKey(prefix, pair),
    comparisonsIndexKey(prefix, pair.model),
    JSON.stringify(update),
    comparisonMember(pair),
  );
}

/** Forgets a pair's totals (a replay starts afresh). */
export async function resetComparison(
  redis: ComparisonRedis,
  prefix: string,
  pair: ComparisonPair,
): Promise<void> {
  await redis.del(comparisonKey(prefix, pair));
  await redis.srem(comparisonsIndexKey(prefix, pair.model), comparisonMember(pair));
}
