import {
  MAX_TIMEOUT_MS,
  isAliasName,
  isModelVersion,
  isOwner,
  isPlainRecord,
  type ParsedPredictOptions,
} from '@conveyor/shared';

/*
 * The options of a single predict or enqueue, read without zod for the common ones: zod's parse of
 * them (a copy and a closure per check) was a few µs of every request the producer accepts. The
 * check accepts only what PredictOptionsSchema accepts unchanged; anything else goes to the schema.
 */

const intIn = (value: unknown, min: number, max: number): boolean =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

/** Each common key and its check; other keys (outputs, deadline, ...) go to zod. */
const CHECKS: Readonly<Record<string, (value: unknown) => boolean>> = {
  version: (v) => isModelVersion(v) || isAliasName(v),
  timeoutMs: (v) => intIn(v, 1, MAX_TIMEOUT_MS),
  owner: isOwner,
  priority: (v) => intIn(v, 1, 2_097_151),
  log: (v) => typeof v === 'boolean',
};

/** Options PredictOptionsSchema takes unchanged: common keys only, none holding undefined. */
export function isPlainPredictOptions(options: unknown): options is ParsedPredictOptions {
  if (!isPlainRecord(options)) return false;
  for (const key in options) {
    if (!Object.hasOwn(options, key)) return false;
    const check = Object.hasOwn(CHECKS, key) ? CHECKS[key] : undefined;
    if (check === undefined || !check(options[key])) return false;
  }
  return true;
}
