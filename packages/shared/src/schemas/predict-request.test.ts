import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isConveyorError, type ConveyorError } from '../errors.js';
import { checkRequest } from '../signature.js';
import type { Dtype } from '../tensor/dtype.js';
import { DEFAULT_MAX_TENSOR_BYTES, createTensor } from '../tensor/tensor.js';
import type { ModelSignature } from './model-config.js';
import {
  NamedInputsSchema,
  PredictOptionsSchema,
  plainNamedInputs,
  toTensor,
  toTensors,
  type InputSpec,
} from './predict-request.js';

function failure(run: () => unknown): ConveyorError {
  try {
    run();
  } catch (error) {
    if (isConveyorError(error)) return error;
    throw new Error(`expected a ConveyorError, got ${String(error)}`);
  }
  throw new Error('expected a ConveyorError, but nothing was thrown');
}

const codeOf = (run: () => unknown) => failure(run).code;

describe('toTensor with good inputs', () => {
  it('infers the shape of nested arrays and defaults to float32', () => {
    const tensor = toTensor('x', [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(tensor.dtype).toBe('float32');
    expect(tensor.shape).toEqual([2, 3]);
    expect(tensor.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tensor.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads a flat array as rank 1 and an empty array as shape [0]', () => {
    expect(toTensor('x', [1.5, 2.5]).shape).toEqual([2]);
    const empty = toTensor('x', []);
    expect(empty.shape).toEqual([0]);
    expect(empty.dtype).toBe('float32');
  });

  it('keeps the dtype of a typed array and uses it without a copy', () => {
    const data = new Int32Array([1, 2, 3, 4]);
    const tensor = toTensor('x', { data, shape: [2, 2] });
    expect(tensor.dtype).toBe('int32');
    expect(tensor.shape).toEqual([2, 2]);
    expect(tensor.data).toBe(data);
  });

  it('takes a tensor createTensor made as it is, checking only its size', () => {
    const tensor = createTensor('float32', [2, 2], new Float32Array(4));
    expect(toTensor('x', tensor)).toBe(tensor);
    expect(codeOf(() => toTensor('x', tensor, 8))).toBe('ERR_TENSOR_TOO_LARGE');
    // A look-alike is checked as any input object is, and so is a bool tensor.
    const alike = { dtype: 'float32', shape: [3], data: new Float32Array(4) };
    expect(codeOf(() => toTensor('x', alike))).toBe('ERR_TENSOR_INVALID');
    const bool = createTensor('bool', [2], new Uint8Array([0, 7]));
    expect(codeOf(() => toTensor('x', bool))).toBe('ERR_TENSOR_INVALID');
  });

  it('gives a typed array without a shape rank 1', () => {
    expect(toTensor('x', { data: new Float64Array(3) }).shape).toEqual([3]);
  });

  it('infers int64 from bigint elements and bool from booleans', () => {
    const ids = toTensor('ids', [[1n, 2n]]);
    expect(ids.dtype).toBe('int64');
    expect(ids.shape).toEqual([1, 2]);
    expect(Array.from(ids.data as BigInt64Array)).toEqual([1n, 2n]);

    const mask = toTensor('mask', [true, false]);
    expect(mask.dtype).toBe('bool');
    expect(Array.from(mask.data as Uint8Array)).toEqual([1, 0]);
  });

  it('converts plain numbers and typed arrays to a dtype given as an override', () => {
    const ids = toTensor('ids', { data: [1, 2, 3], dtype: 'int64' });
    expect(ids.dtype).toBe('int64');
    expect(Array.from(ids.data as BigInt64Array)).toEqual([1n, 2n, 3n]);

    const bytes = toTensor('x', { data: new Float32Array([0, 255]), dtype: 'uint8' });
    expect(bytes.dtype).toBe('uint8');
    expect(bytes.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(bytes.data as Uint8Array)).toEqual([0, 255]);
  });

  it('reshapes a nested array to a shape given as an override', () => {
    const tensor = toTensor('x', {
      data: [
        [1, 2],
        [3, 4],
      ],
      shape: [4],
    });
    expect(tensor.shape).toEqual([4]);
  });

  it('takes float16 as a Uint16Array of raw bits when the dtype says so', () => {
    const tensor = toTensor('h', { data: new Uint16Array([0x3c00]), dtype: 'float16' });
    expect(tensor.dtype).toBe('float16');
    expect(Array.from(tensor.data as Uint16Array)).toEqual([0x3c00]);
  });

  it('accepts an input object that gives data, shape and dtype all at once', () => {
    const data = new Int32Array([1, 2, 3, 4]);
    const tensor = toTensor('x', { data, shape: [2, 2], dtype: 'int32' });
    expect(tensor.dtype).toBe('int32');
    expect(tensor.shape).toEqual([2, 2]);
    expect(tensor.data).toBe(data);
    expect(toTensor('x', { data: [1, 2], shape: [2], dtype: 'float64' }).dtype).toBe('float64');
  });

  it('accepts a Tensor as it is', () => {
    const source = createTensor('int8', [2], new Int8Array([-1, 1]));
    const tensor = toTensor('x', source);
    expect(tensor.dtype).toBe('int8');
    expect(tensor.shape).toEqual([2]);
    expect(tensor.data).toBe(source.data);
  });

  it('accepts the full range of int8 and uint64', () => {
    expect(
      Array.from(toTensor('x', { data: [-128, 127], dtype: 'int8' }).data as Int8Array),
    ).toEqual([-128, 127]);
    const max = 2n ** 64n - 1n;
    expect(
      Array.from(toTensor('x', { data: [0n, max], dtype: 'uint64' }).data as BigUint64Array),
    ).toEqual([0n, max]);
  });
});

describe('toTensor with bad inputs', () => {
  it('rejects ragged nested arrays with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', [[1, 2], [3]]))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => toTensor('x', [[1, 2], 3]))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => toTensor('x', [1, [2]]))).toBe('ERR_TENSOR_INVALID');
  });

  it('rejects an element that is not a number with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', [1, '2']))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => toTensor('x', [1, null]))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => toTensor('x', [{}]))).toBe('ERR_TENSOR_INVALID');
  });

  it('rejects a fraction for an integer dtype with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', { data: [1, 2.5], dtype: 'int32' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => toTensor('x', { data: [0.5], dtype: 'int64' }))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => toTensor('x', { data: new Float32Array([1.25]), dtype: 'uint8' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => toTensor('x', { data: [Number.NaN], dtype: 'int16' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('rejects a value out of range for its dtype with ERR_INPUT_VALUE', () => {
    expect(codeOf(() => toTensor('x', { data: [128], dtype: 'int8' }))).toBe('ERR_INPUT_VALUE');
    expect(codeOf(() => toTensor('x', { data: [-129], dtype: 'int8' }))).toBe('ERR_INPUT_VALUE');
    expect(codeOf(() => toTensor('x', { data: [-1], dtype: 'uint32' }))).toBe('ERR_INPUT_VALUE');
    expect(codeOf(() => toTensor('x', { data: [2n ** 63n], dtype: 'int64' }))).toBe(
      'ERR_INPUT_VALUE',
    );
    expect(codeOf(() => toTensor('x', { data: [-1n], dtype: 'uint64' }))).toBe('ERR_INPUT_VALUE');
    expect(codeOf(() => toTensor('x', { data: new Int16Array([300]), dtype: 'int8' }))).toBe(
      'ERR_INPUT_VALUE',
    );
  });

  it('rejects bool elements other than 0 and 1 with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', { data: [0, 2], dtype: 'bool' }))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => toTensor('x', { data: new Int8Array([1, -1]), dtype: 'bool' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => toTensor('x', { data: new Uint8Array([0, 2]), dtype: 'bool' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('rejects float16 given as numbers rather than raw bits with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', { data: [1.5], dtype: 'float16' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('rejects a typed array whose shape holds a different number of elements with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', { data: new Float32Array(6), shape: [2, 2] }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => toTensor('x', { data: new Float32Array(3), shape: [] }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('rejects a negative or fractional dimension in a given shape with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', { data: new Float32Array(2), shape: [-2] }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => toTensor('x', { data: [1, 2], shape: [0.5, 4] }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('rejects a shape over the byte limit with ERR_TENSOR_TOO_LARGE before converting the data', () => {
    expect(codeOf(() => toTensor('x', { data: new Float32Array(1), shape: [1e6, 1e6, 1e6] }))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
    expect(codeOf(() => toTensor('x', { data: ['not even a number'], shape: [1e6, 1e6] }))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
    expect(codeOf(() => toTensor('x', new Array<number>(5).fill(0), 16))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
  });

  it('rejects nesting deeper than 16 levels with ERR_TENSOR_INVALID', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 17; i += 1) deep = [deep];
    expect(codeOf(() => toTensor('x', deep))).toBe('ERR_TENSOR_INVALID');
  });

  it('rejects something that is neither an array, a bare value nor an input object with ERR_VALIDATION', () => {
    for (const input of [
      null,
      undefined,
      { values: [1] },
      { data: 'abc' },
      { data: [1], extra: true },
    ]) {
      expect(codeOf(() => toTensor('x', input))).toBe('ERR_VALIDATION');
    }
  });

  it('lists validation issues under the input name', () => {
    const error = failure(() => toTensor('features', { data: [1], dtype: 'float128' }));
    expect(error.code).toBe('ERR_VALIDATION');
    expect(error.issues.map((issue) => issue.path)).toContain('inputs.features.dtype');
  });
});

describe('toTensors', () => {
  it('converts every named input', () => {
    const tensors = toTensors({ a: [1, 2], b: { data: new Uint8Array([1]), shape: [1, 1] } });
    expect(Object.keys(tensors)).toEqual(['a', 'b']);
    expect(tensors.a?.shape).toEqual([2]);
    expect(tensors.b?.dtype).toBe('uint8');
  });

  it('rejects inputs that are not an object with ERR_VALIDATION', () => {
    for (const inputs of [null, undefined, 3, 'x', [[1, 2]]]) {
      expect(codeOf(() => toTensors(inputs))).toBe('ERR_VALIDATION');
    }
  });

  it('rejects an empty inputs object with ERR_VALIDATION', () => {
    expect(codeOf(() => toTensors({}))).toBe('ERR_VALIDATION');
  });

  it('rejects an input name with control characters with ERR_VALIDATION', () => {
    expect(codeOf(() => toTensors({ 'a\nb': [1] }))).toBe('ERR_VALIDATION');
  });

  it('passes on the code of the first bad input', () => {
    expect(codeOf(() => toTensors({ ok: [1], ragged: [[1], []] }))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => toTensors({ big: { data: [1], shape: [1e9] } }, 1024))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
  });
});

describe('toTensor with the model spec of the input', () => {
  const spec = (dtype: Dtype, shape: number[]) => ({ dtype, shape });
  const MAX = DEFAULT_MAX_TENSOR_BYTES;

  it('converts plain integers to the int64 the model declares, in a BigInt64Array', () => {
    const ids = toTensor(
      'ids',
      [
        [1, 2],
        [3, 4],
      ],
      MAX,
      spec('int64', [-1, 2]),
    );
    expect(ids).toMatchObject({ dtype: 'int64', shape: [2, 2] });
    expect(ids.data).toEqual(new BigInt64Array([1n, 2n, 3n, 4n]));
  });

  it('takes a bare value for an input of shape [] as a tensor of shape []', () => {
    expect(toTensor('sr', 16000, MAX, spec('int64', []))).toEqual({
      dtype: 'int64',
      shape: [],
      data: new BigInt64Array([16000n]),
    });
    expect(toTensor('sr', 8000n, MAX, spec('int64', [])).data).toEqual(new BigInt64Array([8000n]));
    expect(toTensor('flag', true, MAX, spec('bool', []))).toMatchObject({
      shape: [],
      data: new Uint8Array([1]),
    });
    expect(toTensor('lang', 'en', MAX, spec('string', []))).toMatchObject({ data: ['en'] });
  });

  it('reads a bare value without a spec as a tensor of shape [] of the dtype it implies', () => {
    expect(toTensor('x', 2.5)).toMatchObject({ dtype: 'float32', shape: [] });
    expect(toTensor('x', 3n)).toMatchObject({ dtype: 'int64', shape: [] });
  });

  it('keeps [16000] as shape [1] for an input of shape [-1]', () => {
    expect(toTensor('sr', [16000], MAX, spec('int64', [-1]))).toMatchObject({
      dtype: 'int64',
      shape: [1],
    });
  });

  it('converts 0/1 and booleans for bool, and numbers for float64 and float16', () => {
    expect(toTensor('m', [[1, 0, true]], MAX, spec('bool', [-1, 3])).data).toEqual(
      new Uint8Array([1, 0, 1]),
    );
    expect(toTensor('d', [0.1], MAX, spec('float64', [-1])).data).toEqual(new Float64Array([0.1]));
    expect(toTensor('h', [1, -2], MAX, spec('float16', [-1])).data).toEqual(
      new Uint16Array([0x3c00, 0xc000]),
    );
  });

  it('converts flat data with a shape but no dtype', () => {
    const tensor = toTensor(
      'x',
      { data: [1, 2, 3, 4], shape: [2, 2] },
      MAX,
      spec('int32', [-1, 2]),
    );
    expect(tensor.data).toEqual(new Int32Array([1, 2, 3, 4]));
  });

  it('never converts a dtype the caller names, nor a typed array', () => {
    const int64 = spec('int64', [-1]);
    expect(toTensor('x', { data: [1], dtype: 'float32' }, MAX, int64).dtype).toBe('float32');
    expect(toTensor('x', { data: new Float32Array([1]) }, MAX, int64).dtype).toBe('float32');
    expect(toTensor('x', { data: new Int32Array([1]) }, MAX, int64).dtype).toBe('int32');
  });

  it('keeps the implied dtype of values that do not convert, for the signature check to refuse', () => {
    expect(toTensor('x', [1], MAX, spec('string', [-1])).dtype).toBe('float32');
    expect(toTensor('x', [true], MAX, spec('int64', [-1])).dtype).toBe('bool');
    expect(toTensor('x', ['1'], MAX, spec('float32', [-1])).dtype).toBe('string');
    expect(toTensor('x', [1n], MAX, spec('float32', [-1])).dtype).toBe('int64');
  });

  it('refuses a fraction or NaN for an integer input with ERR_INPUT_DTYPE naming the input and index', () => {
    for (const [input, value, declared, index] of [
      ['sr', 16000.5, spec('int64', []), 0],
      ['n', [Number.NaN], spec('int32', [-1]), 0],
      [
        'm',
        [
          [0, 1],
          [2, 0],
        ],
        spec('bool', [-1, 2]),
        2,
      ],
    ] as const) {
      const error = failure(() => toTensor(input, value, MAX, declared));
      expect(error.code).toBe('ERR_INPUT_DTYPE');
      expect(error.details).toMatchObject({ input, index, dtype: declared.dtype });
    }
  });

  it('refuses an out-of-range value for an integer input with ERR_INPUT_VALUE naming the input', () => {
    const error = failure(() => toTensor('ids', [[1, 300]], MAX, spec('uint8', [-1, 2])));
    expect(error.code).toBe('ERR_INPUT_VALUE');
    expect(error.details).toMatchObject({ input: 'ids', index: 1, dtype: 'uint8' });
  });

  it('refuses a bare value for an input whose rank is not 0 with ERR_VALIDATION naming it', () => {
    const error = failure(() => toTensor('features', 5, MAX, spec('float32', [-1, 4])));
    expect(error.code).toBe('ERR_VALIDATION');
    expect(error.issues.map((issue) => issue.path)).toEqual(['inputs.features']);
  });

  it('refuses an element of the wrong type with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => toTensor('x', [1, 'a'], MAX, spec('int64', [-1])))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('checks the size in the converted dtype before filling', () => {
    const three = [1, 2, 3];
    expect(toTensor('x', three, 12).dtype).toBe('float32');
    expect(codeOf(() => toTensor('x', three, 12, spec('int64', [-1])))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
  });
});

describe('toTensors with the model signature', () => {
  // The inputs of a voice-activity model: audio, a recurrent state and the sample rate (a scalar).
  const vad: ModelSignature = {
    name: 'vad',
    version: '1',
    inputs: [
      { name: 'input', dtype: 'float32', shape: [-1, -1] },
      { name: 'state', dtype: 'float32', shape: [2, -1, 128] },
      { name: 'sr', dtype: 'int64', shape: [] },
    ],
    outputs: [{ name: 'output', dtype: 'float32', shape: [-1, 1] }],
  };
  const state = [Array.from({ length: 1 }, () => new Array<number>(128).fill(0))];
  const audio = [[0.1, 0.2, 0.3]];

  it('converts each input by its own spec, so the signature check passes', () => {
    const tensors = toTensors(
      { sr: 16000, input: audio, state: [state[0], state[0]] },
      undefined,
      vad,
    );
    expect(tensors.sr).toEqual({ dtype: 'int64', shape: [], data: new BigInt64Array([16000n]) });
    expect(tensors.input).toMatchObject({ dtype: 'float32', shape: [1, 3] });
    expect(tensors.state).toMatchObject({ dtype: 'float32', shape: [2, 1, 128] });
    expect(checkRequest(vad, tensors)).toEqual(['output']);
  });

  it('leaves what does not fit the signature to its check, with that check codes', () => {
    const good = { input: audio, state: [state[0], state[0]] };
    const check = (inputs: Record<string, unknown>) => () =>
      checkRequest(vad, toTensors(inputs, undefined, vad));
    expect(codeOf(check({ ...good, sr: 16000, rate: 8000 }))).toBe('ERR_INPUT_UNEXPECTED');
    expect(codeOf(check({ ...good, sr: [16000] }))).toBe('ERR_INPUT_SHAPE');
    expect(codeOf(check({ ...good, sr: { data: [16000], shape: [], dtype: 'float32' } }))).toBe(
      'ERR_INPUT_DTYPE',
    );
    expect(codeOf(check({ ...good, sr: 'fast' }))).toBe('ERR_INPUT_DTYPE');
  });
});

describe('PredictOptionsSchema', () => {
  it('accepts the documented options', () => {
    const options = {
      version: '2',
      outputs: ['y'],
      timeoutMs: 500,
      deadline: Date.now() + 1000,
      priority: 1,
      idempotencyKey: 'order-17',
    };
    expect(PredictOptionsSchema.safeParse(options).success).toBe(true);
  });

  it('refuses an all-digit idempotency key, which BullMQ reserves for its own ids', () => {
    expect(PredictOptionsSchema.safeParse({ idempotencyKey: '123' }).success).toBe(false);
  });

  it('refuses unknown options', () => {
    expect(PredictOptionsSchema.safeParse({ timeout: 5 }).success).toBe(false);
  });
});

describe('toTensor with records', () => {
  const spec: InputSpec = { dtype: 'string', shape: [-1] };

  it('sends an array of plain objects to a string input as one JSON text per object', () => {
    const tensor = toTensor(
      'flower',
      [{ a: 1 }, { b: 'x', c: [true] }],
      DEFAULT_MAX_TENSOR_BYTES,
      spec,
    );
    expect(tensor).toMatchObject({ dtype: 'string', shape: [2] });
    expect(tensor.data).toEqual(['{"a":1}', '{"b":"x","c":[true]}']);
  });

  it('leaves objects for an input that is not a string one to the usual checks', () => {
    const numeric: InputSpec = { ...spec, dtype: 'float32' };
    expect(() => toTensor('flower', [{ a: 1 }], DEFAULT_MAX_TENSOR_BYTES, numeric)).toThrow(
      expect.objectContaining({ code: 'ERR_TENSOR_INVALID' }) as Error,
    );
  });
});

describe('plainNamedInputs', () => {
  it('passes only inputs the schema accepts, as the schema would return them', () => {
    const key = fc.oneof(
      fc.constantFrom('features', 'x', 'in put', '', 'a\u0000b', '__proto__', 'n'.repeat(257)),
      fc.string({ maxLength: 3 }),
    );
    const record = fc.dictionary(key, fc.anything({ maxDepth: 0 }), { maxKeys: 4 });
    const odd = fc.constantFrom(
      JSON.parse('{"__proto__": [1], "x": [2]}') as unknown,
      Object.create(null) as unknown,
      { [Symbol('s')]: 1, x: [1] },
      [[1, 2]],
      new Map([['x', 1]]),
      null,
      'x',
    );
    let passed = 0;
    fc.assert(
      fc.property(fc.oneof(record, odd), (inputs) => {
        const plain = plainNamedInputs(inputs);
        if (plain === undefined) return;
        passed += 1;
        expect(plain).toBe(inputs);
        const parsed = NamedInputsSchema.safeParse(inputs);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(inputs);
      }),
      { seed: 14_2026, numRuns: 2000 },
    );
    expect(passed).toBeGreaterThan(0);
  });
});
