import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PredictOptionsSchema } from '@conveyor/shared';
import { passesUnchanged } from '../../../test/support/schema-twin.js';
import { isPlainPredictOptions } from './options-check.js';

const edgy = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(0, 1, -1, 1.5, 86_400_000, 86_400_001, 2_097_151, 2_097_152, Number.NaN),
  fc.constantFrom('', '1', '01', '12', 'canary', 'Canary', '-a', 'a'.repeat(33), 'a@b:c.d_e-f'),
  fc.constantFrom('x'.repeat(128), 'x'.repeat(129), 'a b', []),
);
/** Mostly `valid`, sometimes an edge: near-valid options find the edges. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: edgy });
const options = fc
  .record(
    {
      version: mostly(fc.constantFrom('1', '12', 'canary', 'production')),
      timeoutMs: mostly(fc.integer({ min: 1, max: 100_000 })),
      owner: mostly(fc.constantFrom('key-1', 'a@b:c.d_e-f')),
      priority: mostly(fc.integer({ min: 1, max: 10 })),
      log: mostly(fc.boolean()),
      outputs: fc.constantFrom(['a'], undefined),
      other: edgy,
    },
    { requiredKeys: [] },
  )
  .map((value) => {
    // Keys zod would take or refuse the same whatever the check does: rarely present.
    const { outputs, other, ...rest } = value;
    return rest.log === true ? { ...rest, outputs, other } : rest;
  });

describe('the predict options check', () => {
  it('passes only options PredictOptionsSchema accepts unchanged', () => {
    let passed = 0;
    fc.assert(
      fc.property(options, (value) => {
        if (passesUnchanged(isPlainPredictOptions, PredictOptionsSchema, value)) passed += 1;
      }),
      { seed: 14_2026, numRuns: 3000 },
    );
    expect(passed).toBeGreaterThan(50);
    expect(passed).toBeLessThan(3000);
  });

  it('passes no options and the usual ones, and leaves anything else to zod', () => {
    expect(isPlainPredictOptions({})).toBe(true);
    expect(isPlainPredictOptions({ version: 'canary', owner: 'key-1', timeoutMs: 5000 })).toBe(
      true,
    );
    expect(isPlainPredictOptions({ deadline: new Date() })).toBe(false);
    expect(isPlainPredictOptions({ timeoutMs: undefined })).toBe(false);
    expect(isPlainPredictOptions(Object.create({ owner: 'x' }) as object)).toBe(false);
  });
});
