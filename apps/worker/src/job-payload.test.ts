import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConveyorError, JobPayloadSchema } from '@conveyor/shared';
import { passesUnchanged } from '../../../test/support/schema-twin.js';
import { isPlainJobPayload, readJobPayload } from './job-payload.js';

const good = {
  v: 1,
  model: 'iris',
  inputs: { features: { dtype: 'float32', shape: [1, 4], data: 'AAAAAAAAAAAAAAAAAAAAAA==' } },
};

/** Mostly `valid`, sometimes one of `invalid`: near-valid payloads find the edges. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: invalid });

const shapeArb = mostly(
  fc.array(mostly(fc.integer({ min: 0, max: 8 }), fc.constantFrom(-1, 1.5, 2 ** 53, '2', null)), {
    maxLength: 4,
  }),
  fc.oneof(fc.constantFrom(Array.from({ length: 17 }, () => 1)), fc.jsonValue({ maxDepth: 1 })),
);
const dataArb = mostly(
  fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b).toString('base64')),
  fc.oneof(
    fc.constantFrom('====', 'AAA', 'AB==', 'A\nAA', 'not base64!', 'AAAA AAAA'),
    fc.jsonValue({ maxDepth: 1 }),
  ),
);
const dtypeArb = mostly(
  fc.constantFrom('float32', 'int64', 'string', 'bool'),
  fc.constantFrom('FP32', 3),
);
const tensorArb = fc.oneof(
  fc.record({ dtype: dtypeArb, shape: shapeArb, data: dataArb }),
  fc.record({
    dtype: dtypeArb,
    shape: shapeArb,
    blob: mostly(fc.constant(true), fc.constantFrom(false, 1, 'true')),
  }),
  fc.record(
    {
      dtype: dtypeArb,
      shape: shapeArb,
      data: dataArb,
      blob: fc.constant(true),
      extra: fc.constant(1),
    },
    { requiredKeys: [] },
  ),
);

const nameArb = mostly(
  fc.constantFrom('features', 'x', 'é', 'x'.repeat(256), 'a b'),
  fc.oneof(
    fc.constantFrom('', 'a\u0000b', 'a\u007fb', 'x'.repeat(257), '__proto__'),
    fc.string({ unit: 'binary', maxLength: 4 }),
  ),
);

const jobIdArb = fc.constantFrom(
  'iris.2.0d8f7e2c-5b1a-4c3e-9f00-123456789abc',
  `a_1.123456789.${'x'.repeat(64)}`,
);
const badJobIdArb = fc.oneof(
  fc.constantFrom('iris.0.x', 'IRIS.1.x', 'iris.1.', 'iris.1.a b', `iris.1.${'x'.repeat(65)}`, 3),
  fc.string({ maxLength: 6 }),
);

const payloadArb = fc.record(
  {
    v: mostly(fc.constant(1), fc.constantFrom(0, 2, '1', null, 1.0000001)),
    model: mostly(
      fc.constantFrom('iris', 'text-direction', 'a_1', 'a'.repeat(64)),
      fc.oneof(fc.constantFrom('IRIS', '-iris', '', 'a'.repeat(65)), fc.string({ maxLength: 8 })),
    ),
    version: mostly(
      fc.constantFrom('1', '12', '123456789'),
      fc.oneof(fc.constantFrom('0', '01', '1234567890', '', 1), fc.string({ maxLength: 3 })),
    ),
    inputs: mostly(
      fc.dictionary(nameArb, tensorArb, { minKeys: 1, maxKeys: 3 }),
      fc.constantFrom(
        {},
        [],
        null,
        Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`i${i}`, good.inputs.features])),
      ),
    ),
    outputs: mostly(
      fc.array(nameArb, { minLength: 1, maxLength: 3 }),
      fc.constantFrom([], 'x', null),
    ),
    deadline: mostly(
      fc.integer({ min: 1 }),
      fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.NaN, '1', null),
    ),
    owner: mostly(
      fc.constantFrom('x', 'x'.repeat(128)),
      fc.oneof(fc.constantFrom('', 'x'.repeat(129), 1), fc.string({ maxLength: 3 })),
    ),
    shadowedBy: mostly(jobIdArb, badJobIdArb),
    shadowOf: mostly(jobIdArb, badJobIdArb),
    unlogged: mostly(fc.constant(true), fc.constantFrom(false, 1, 'true', null)),
  },
  { requiredKeys: ['v', 'model', 'inputs'] },
);
const dataOfJobArb = fc.oneof(
  { weight: 8, arbitrary: payloadArb },
  { weight: 1, arbitrary: payloadArb.map((payload) => ({ ...payload, extra: true })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

describe('the hand-written job payload check', () => {
  it('accepts only what JobPayloadSchema accepts, unchanged', () => {
    let accepted = 0;
    fc.assert(
      fc.property(dataOfJobArb, (data) => {
        if (passesUnchanged(isPlainJobPayload, JobPayloadSchema, data)) accepted += 1;
      }),
      { numRuns: 20_000, seed: 1402 },
    );
    // The property is only worth something if it saw some good payloads.
    expect(accepted, `accepted ${accepted}`).toBeGreaterThan(1000);
  });

  it('accepts the payloads the SDK writes', () => {
    expect(isPlainJobPayload(good)).toBe(true);
    const full = {
      ...good,
      version: '12',
      inputs: { ...good.inputs, image: { dtype: 'float32', shape: [1, 3, 48, 192], blob: true } },
      outputs: ['probabilities'],
      deadline: Date.now(),
      owner: 'batch',
      shadowedBy: 'iris.2.0d8f7e2c-5b1a-4c3e-9f00-123456789abc',
      unlogged: true,
    };
    expect(isPlainJobPayload(full)).toBe(true);
    expect(readJobPayload(full, 'j1')).toBe(full);
  });

  it('leaves the verdict on a bad payload, and its message, to the schema', () => {
    const bad = { ...good, inputs: { features: { ...good.inputs.features, data: 'no!' } } };
    expect(isPlainJobPayload(bad)).toBe(false);
    let thrown: unknown;
    try {
      readJobPayload(bad, 'j2');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConveyorError);
    expect((thrown as ConveyorError).code).toBe('ERR_PAYLOAD_INVALID');
    expect((thrown as ConveyorError).message).toMatch(/^payload of job j2 is invalid: inputs/);
  });
});
