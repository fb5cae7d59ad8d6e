import Fastify from 'fastify';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  inferValidatorCompiler,
  isPlainInferHeaders,
  isPlainInferParams,
  isPlainInferRequest,
} from './infer-validator.js';
import {
  InferHeadersSchema,
  InferRequestSchema,
  ModelParamsSchema,
  OIP_DATATYPES,
} from './schemas.js';
import { passesUnchanged } from '../../../../test/support/schema-twin.js';

const SEED = 14_2026;
const RUNS = 3000;

/** Values near the edges of what each field takes, and some that are just past them. */
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(0.5, -0, Number.NaN, 2 ** 53, 1e300),
  fc.string({ maxLength: 4 }),
  fc.constantFrom('', 'a\u0007b', 'x'.repeat(257), 'FP32', 'BYTES', 'fp32'),
  fc.constant([]),
  fc.constant({}),
);
const dim = fc.oneof(fc.nat({ max: 8 }), anyValue);
const input = fc.record(
  {
    name: fc.oneof(fc.constantFrom('features', 'x', 'in put', 'é'), anyValue),
    shape: fc.oneof(
      fc.array(dim, { maxLength: 18 }),
      fc.array(fc.nat({ max: 4 }), { maxLength: 17 }),
      anyValue,
    ),
    datatype: fc.oneof(fc.constantFrom(...OIP_DATATYPES), anyValue),
    data: fc.oneof(fc.array(fc.double(), { maxLength: 4 }), anyValue),
    parameters: fc.oneof(fc.constant({ binary_data_size: 16 }), anyValue),
    extra: anyValue,
  },
  { requiredKeys: [] },
);
/** An input that holds, or one field away from it. */
const goodInput = fc.record({
  name: fc.constantFrom('features', 'x', 'in put'),
  shape: fc.array(fc.nat({ max: 4 }), { maxLength: 3 }),
  datatype: fc.constantFrom(...OIP_DATATYPES),
  data: fc.array(fc.double(), { maxLength: 4 }),
});
/** A binary extension input that holds: its size in parameters, no data. */
const goodBinaryInput = fc.record({
  name: fc.constantFrom('features', 'x'),
  shape: fc.array(fc.nat({ max: 4 }), { maxLength: 3 }),
  datatype: fc.constantFrom(...OIP_DATATYPES),
  parameters: fc.record({
    binary_data_size: fc.oneof(
      fc.nat({ max: 1024 }),
      fc.constantFrom(2 ** 31 - 1, 2 ** 31, -1, 0.5),
      anyValue,
    ),
  }),
});
const nearInput = fc
  .tuple(
    fc.oneof(goodInput, goodBinaryInput),
    fc.constantFrom(...Object.keys({ name: 0, shape: 0, datatype: 0, data: 0, parameters: 0 })),
    anyValue,
  )
  .map(([good, key, value]) => ({ ...good, [key]: value }));
const messyBody = fc.record(
  {
    id: fc.oneof(fc.string({ maxLength: 3 }), fc.constant('i'.repeat(257)), anyValue),
    inputs: fc.oneof(
      fc.array(input, { minLength: 1, maxLength: 3 }),
      fc.array(input, { minLength: 64, maxLength: 66 }),
      anyValue,
    ),
    parameters: fc.oneof(fc.constant({ priority: 1 }), anyValue),
    outputs: fc.oneof(fc.constant([{ name: 'y' }]), anyValue),
    other: anyValue,
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  fc.record(
    {
      id: fc.oneof(fc.string({ maxLength: 3 }), anyValue),
      inputs: fc.array(fc.oneof(goodInput, goodBinaryInput, nearInput), {
        minLength: 1,
        maxLength: 3,
      }),
    },
    { requiredKeys: ['inputs'] },
  ),
  messyBody,
);
const headers = fc.record(
  {
    host: fc.constant('127.0.0.1:8000'),
    prefer: fc.oneof(fc.constantFrom('respond-async', 'wait=2'), anyValue),
    'conveyor-timeout-ms': fc.oneof(fc.constantFrom('10', 'x'), anyValue),
    'inference-header-content-length': fc.oneof(
      fc.constantFrom('12', '0', '12345678901', '1e3', ' 12'),
      anyValue,
    ),
  },
  { requiredKeys: ['host'] },
);
const params = fc.record(
  {
    name: fc.oneof(fc.constantFrom('iris', 'Iris', '-a', 'a'.repeat(65)), anyValue),
    version: fc.oneof(fc.constantFrom('2', 'canary'), anyValue),
    other: anyValue,
  },
  { requiredKeys: [] },
);

describe('the infer validator check', () => {
  it.each([
    ['body', isPlainInferRequest, InferRequestSchema, body],
    ['headers', isPlainInferHeaders, InferHeadersSchema, headers],
    ['params', isPlainInferParams, ModelParamsSchema, params],
  ] as const)('passes only %s that zod accepts unchanged', (_part, check, schema, values) => {
    let passed = 0;
    fc.assert(
      fc.property(values, (value) => {
        if (passesUnchanged(check, schema, value)) passed += 1;
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The generators reach both sides: some values pass, most go to zod.
    expect(passed).toBeGreaterThan(0);
    expect(passed).toBeLessThan(RUNS);
  });

  it("passes the path params fastify's router makes, and keeps other prototypes for zod", async () => {
    const app = Fastify();
    let seen: unknown;
    app.get('/v2/models/:name/infer', (request, reply) => {
      seen = request.params;
      return reply.send('');
    });
    await app.inject({ method: 'GET', url: '/v2/models/iris/infer' });
    await app.close();
    expect(Object.getPrototypeOf(seen)).not.toBe(Object.prototype);
    expect(passesUnchanged(isPlainInferParams, ModelParamsSchema, seen)).toBe(true);
    expect(isPlainInferParams(Object.assign(Object.create(seen as object) as object, {}))).toBe(
      false,
    );
    class Params {
      name = 'iris';
    }
    expect(isPlainInferParams(new Params())).toBe(false);
  });

  it('passes the common request and hands anything else to zod, with its issues', () => {
    const validate = inferValidatorCompiler({
      schema: InferRequestSchema,
      method: 'POST',
      url: '/v2/models/:name/infer',
      httpPart: 'body',
    });
    const plain = { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1] }] };
    expect(validate(plain)).toEqual({ value: plain });
    expect((validate(plain) as { value: unknown }).value).toBe(plain);
    const wrong = { inputs: [{ ...plain.inputs[0], datatype: 'FP33' }] };
    expect(validate(wrong)).toHaveProperty('error');
    const binary = {
      inputs: [
        { name: 'image', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } },
      ],
    };
    expect((validate(binary) as { value: unknown }).value).toBe(binary);
    const extra = { inputs: [{ ...binary.inputs[0], parameters: { binary_data_size: 16, x: 1 } }] };
    expect(validate(extra)).toEqual({ value: extra });
    expect((validate(extra) as { value: unknown }).value).not.toBe(extra);
    const timed = { ...plain, parameters: { timeout: 1000 } };
    expect(validate(timed)).toEqual({ value: timed });
    expect((validate(timed) as { value: unknown }).value).not.toBe(timed);
  });
});
