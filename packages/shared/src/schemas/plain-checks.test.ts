import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JobIdSchema } from '../naming.js';
import { AliasNameSchema } from './aliases.js';
import { ModelNameSchema, ModelVersionSchema, TensorNameSchema } from './names.js';
import {
  isAliasName,
  isBase64,
  isJobId,
  isModelName,
  isModelVersion,
  isOwner,
  isTensorName,
} from './plain-checks.js';
import { OwnerSchema } from './predict-request.js';

/** Strings near the edges of the name patterns: their characters, lengths and a few strangers. */
const nearName = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'az09_-.AZ@:+/= \n'), maxLength: 140 }),
  fc.constantFrom('', '0', '01', '1', '1'.repeat(10), 'a'.repeat(32), 'a'.repeat(33)),
  fc.constantFrom('a'.repeat(64), 'a'.repeat(65), 'x'.repeat(128), 'x'.repeat(129)),
  fc.constantFrom(
    'iris.1.abc',
    'iris.01.abc',
    'iris.1.',
    `iris.1.${'a'.repeat(65)}`,
    'é',
    '\u0007',
  ),
  fc.string({ maxLength: 300 }),
  fc.base64String({ maxLength: 40 }),
  fc.constantFrom(undefined, null, 1, {}),
);

const twins: [string, (value: unknown) => boolean, z.ZodType][] = [
  ['model name', isModelName, ModelNameSchema],
  ['version', isModelVersion, ModelVersionSchema],
  ['alias', isAliasName, AliasNameSchema],
  ['owner', isOwner, OwnerSchema],
  ['tensor name', isTensorName, TensorNameSchema],
  ['job id', isJobId, JobIdSchema],
  ['base64', isBase64, z.base64()],
];

describe('the hand-written twins of the zod checks', () => {
  it.each(twins)('%s: the twin accepts exactly what its schema accepts', (_, twin, schema) => {
    let accepted = 0;
    fc.assert(
      fc.property(nearName, (value) => {
        const verdict = twin(value);
        expect(verdict).toBe(schema.safeParse(value).success);
        if (verdict) accepted += 1;
      }),
      { seed: 14_2026, numRuns: 3000 },
    );
    // Both verdicts were seen: a twin that refused everything would not pass here.
    expect(accepted).toBeGreaterThan(10);
    expect(accepted).toBeLessThan(3000);
  });
});
