import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JobResultSchema } from '@conveyor/shared';
import { isPlainJobResult } from './result-check.js';
import { parseResult } from './results.js';

const good = {
  v: 1,
  model: 'iris',
  version: '1',
  outputs: { probabilities: { dtype: 'float32', shape: [1, 3], data: 'rkncOlReZD5GekY/' } },
  timings: { queuedMs: 82, inferenceMs: 2.755, runMs: 0.451, batchRows: 1 },
};

/** Mostly `valid`, sometimes one of `invalid`: near-valid results find the edges. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: invalid });

const countArb = mostly(
  fc.integer({ min: 0, max: 8 }),
  fc.constantFrom(-1, 1.5, 2 ** 53, '2', null),
);
const shapeArb = mostly(
  fc.array(countArb, { maxLength: 4 }),
  fc.oneof(fc.constantFrom(Array.from({ length: 17 }, () => 1)), fc.jsonValue({ maxDepth: 1 })),
);
const dataArb = mostly(
  fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('base64')),
  fc.oneof(fc.constantFrom('====', 'AAA', 'AB==', 'A\nAA', 'not base64!'), fc.jsonValue()),
);
const dtypeArb = mostly(fc.constantFrom('float32', 'int64', 'string'), fc.constantFrom('FP32', 3));
const tensorArb = mostly(
  fc.oneof(
    fc.record({ dtype: dtypeArb, shape: shapeArb, data: dataArb }),
    fc.record({ dtype: dtypeArb, shape: shapeArb, at: countArb, bytes: countArb }),
  ),
  fc.record(
    { dtype: dtypeArb, shape: shapeArb, data: dataArb, at: countArb, bytes: countArb },
    { requiredKeys: [] },
  ),
);
const nameArb = mostly(
  fc.constantFrom('probabilities', 'x', 'é', 'x'.repeat(256), 'a b'),
  fc.constantFrom('', 'a\u0000b', 'x'.repeat(257), '__proto__'),
);
const durationArb = mostly(
  fc.oneof(fc.nat(), fc.double({ min: 0, max: 1e6, noNaN: true })),
  fc.constantFrom(-1, '1', null, Number.POSITIVE_INFINITY),
);
/** `arb` with, now and then, one key more: the schemas are strict. */
const withExtra = <T extends object>(arb: fc.Arbitrary<T>) =>
  mostly(
    arb,
    arb.map((value) => ({ ...value, extra: 1 })),
  );
const timingsArb = withExtra(
  fc.record(
    { queuedMs: durationArb, inferenceMs: durationArb, runMs: durationArb, batchRows: countArb },
    { requiredKeys: ['queuedMs', 'inferenceMs'] },
  ),
);
const resultArb = withExtra(
  fc.record({
    v: mostly(fc.constant(1), fc.constantFrom(2, '1')),
    model: mostly(fc.constantFrom('iris', 'a_b-1'), fc.constantFrom('Iris', '', '-a')),
    version: mostly(fc.constantFrom('1', '12'), fc.constantFrom('0', '01', 1)),
    outputs: mostly(
      fc.dictionary(nameArb, tensorArb, { minKeys: 1, maxKeys: 3 }),
      fc.constantFrom({}, null, []),
    ),
    timings: timingsArb,
  }),
);

describe('isPlainJobResult', () => {
  it('accepts a worker result as it comes out of JSON', () => {
    expect(isPlainJobResult(JSON.parse(JSON.stringify(good)))).toBe(true);
    const stored = { dtype: 'float32', shape: [1, 40, 6625], at: 0, bytes: 1_060_000 };
    expect(isPlainJobResult({ ...good, outputs: { softmax: stored } })).toBe(true);
    expect(isPlainJobResult({ ...good, timings: { queuedMs: 0, inferenceMs: 0 } })).toBe(true);
  });

  it('accepts only what JobResultSchema accepts', () => {
    let accepted = 0;
    fc.assert(
      fc.property(resultArb, (result) => {
        const value: unknown = JSON.parse(JSON.stringify(result));
        if (isPlainJobResult(value)) {
          accepted += 1;
          expect(JobResultSchema.safeParse(value).success).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    // The property says little unless a fair share of its cases are accepted.
    expect(accepted).toBeGreaterThan(100);
  });

  it('leaves the verdict on anything else to the schema', () => {
    expect(isPlainJobResult({ ...good, timings: { ...good.timings, extra: 1 } })).toBe(false);
    expect(isPlainJobResult(Object.create({ v: 1 }) as unknown)).toBe(false);
    expect(() => parseResult('j1', { ...good, v: 2 })).toThrow(/result of job j1/);
    expect(parseResult('j1', good)).toBe(good);
  });
});
