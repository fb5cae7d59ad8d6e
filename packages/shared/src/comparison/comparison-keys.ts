import { z } from 'zod';
import { modelKey } from '../naming.js';
import { WireTensorSchema } from '../tensor/codec.js';
import type { ComparisonPair, ComparisonSource } from './comparison-report.js';

/**
 * BullMQ priority of a shadow copy or a replayed job: the lowest BullMQ takes (2^21 - 1), so the
 * candidate's own jobs (unprioritised, or any priority) are always taken first.
 */
export const SHADOW_PRIORITY = 2 ** 21 - 1;

/** How long the first finished side of a shadow pair waits for the other, ms. */
export const SHADOW_PENDING_TTL_MS = 600_000;

/** A shadow copy is dropped while this many jobs wait in the shadow version's queue. */
export const SHADOW_MAX_BACKLOG = 1000;

/** Outputs larger than this (encoded) are not kept for a comparison (counted as dropped, `too-large`). */
export const SHADOW_MAX_OUTPUT_BYTES = 1024 * 1024;

/**
 * The hash of a version pair's comparison totals:
 * `<prefix>:{<model>}:<source>:<serving>:<candidate>` (source `shadow` or `replay`; see
 * comparison-stats.ts for its fields).
 */
export function comparisonKey(prefix: string, pair: ComparisonPair): string {
  return modelKey(prefix, pair.model, pair.source, pair.serving, pair.candidate);
}

/** The set of a model's compared pairs, members `<source>:<serving>:<candidate>`. */
export function comparisonsIndexKey(prefix: string, model: string): string {
  return modelKey(prefix, model, 'comparisons');
}

/** The index member of a pair. */
export function comparisonMember(pair: ComparisonPair): string {
  return `${pair.source}:${pair.serving}:${pair.candidate}`;
}

/** The pair an index member names, or undefined for one that is not ours. */
export function pairOfMember(model: string, member: string): ComparisonPair | undefined {
  const match = /^(shadow|replay):([1-9][0-9]{0,8}):([1-9][0-9]{0,8})$/.exec(member);
  if (!match) return undefined;
  return {
    source: match[1] as ComparisonSource,
    model,
    serving: match[2] as string,
    candidate: match[3] as string,
  };
}

/** Where the first finished side of a shadow pair leaves its answer for the other (a hash). */
export function shadowPendingKey(prefix: string, model: string, servingJobId: string): string {
  return modelKey(prefix, model, 'shadow-pending', servingJobId);
}

/** What each side of a shadow pair leaves for the other: its outputs (wire form) and timings. */
export const ShadowEntrySchema = z
  .object({
    /** Absent when they were larger than SHADOW_MAX_OUTPUT_BYTES. */
    outputs: z.record(z.string(), WireTensorSchema).optional(),
    inferenceMs: z.number().nonnegative(),
    queuedMs: z.number().nonnegative(),
  })
  .strict();
export type ShadowEntry = z.infer<typeof ShadowEntrySchema>;

/**
 * Adds a StatsUpdate to a pair's hash and names the pair in the model's index, stamped with the
 * server's clock. KEYS: pair hash, index set. ARGV: update JSON, index member.
 */
export const RECORD_COMPARISON_SCRIPT = `
local update = cjson.decode(ARGV[1])
for field, value in pairs(update.incr) do
  redis.call('HINCRBYFLOAT', KEYS[1], field, value)
end
for field, value in pairs(update.max) do
  local current = tonumber(redis.call('HGET', KEYS[1], field))
  if current == nil or value > current then redis.call('HSET', KEYS[1], field, value) end
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'at', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('SADD', KEYS[2], ARGV[2])
return 1`;

/**
 * Sides of shadow pairs arrive, one per key (a worker meets what finished since its last round in
 * one call): for each, returns the other side's entry (and deletes the pending hash) when it is
 * there, else leaves this side's entry for PEXPIRE ms and answers nil. So whichever side finishes
 * second compares, also when both arrive in the same call. KEYS: pending hashes (one model's, so
 * one hash slot). ARGV: ttl ms, then per key its side (`s`|`c`) and entry JSON.
 */
export const MEET_SHADOW_SCRIPT = `
local found = {}
for i, key in ipairs(KEYS) do
  local side = ARGV[2 * i]
  local theirs = redis.call('HGET', key, side == 's' and 'c' or 's')
  if theirs then
    redis.call('DEL', key)
    found[i] = theirs
  else
    redis.call('HSET', key, side, ARGV[2 * i + 1])
    redis.call('PEXPIRE', key, ARGV[1])
    found[i] = false
  end
end
return found`;
