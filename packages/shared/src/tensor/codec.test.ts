import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { isConveyorError } from '../errors.js';
import { toTensor } from '../schemas/predict-request.js';
import {
  TensorCodec,
  WireTensorSchema,
  decodeTensor,
  encodeTensor,
  tensorFromBytes,
  type WireTensor,
} from './codec.js';
import { DTYPES, DTYPE_ARRAYS, type Dtype, type TensorData, type TypedArray } from './dtype.js';
import { createTensor, type Tensor } from './tensor.js';

const int = (min: number, max: number) => fc.integer({ min, max });

/** Element values per dtype, covering each type's full range (and NaN, ±Infinity, -0 for floats). */
const VALUES: { readonly [D in Dtype]: fc.Arbitrary<number | bigint | string | Uint8Array> } = {
  float32: fc.float(),
  float64: fc.double(),
  // float16 travels as its raw bits, so every 16-bit pattern (NaNs included) must survive.
  float16: int(0, 0xffff),
  int8: int(-128, 127),
  int16: int(-32_768, 32_767),
  int32: int(-(2 ** 31), 2 ** 31 - 1),
  int64: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
  uint8: int(0, 255),
  uint16: int(0, 0xffff),
  uint32: int(0, 2 ** 32 - 1),
  uint64: fc.bigInt(0n, 2n ** 64n - 1n),
  bool: fc.constantFrom(0, 1),
  // Any Unicode text, empty strings and astral characters included.
  string: fc.string({ unit: 'grapheme', maxLength: 12 }),
  // Any bytes: empty, 0x00, 0xff, and sequences that are not UTF-8.
  bytes: fc.uint8Array({ maxLength: 12 }),
};

function typedArrayOf(
  dtype: Dtype,
  values: readonly (number | bigint | string | Uint8Array)[],
): TensorData {
  if (dtype === 'string') return values.map(String);
  if (dtype === 'bytes') return values as Uint8Array[];
  const data = new DTYPE_ARRAYS[dtype](values.length);
  values.forEach((value, i) => {
    data[i] = value as number | bigint;
  });
  return data;
}

/** Shapes of rank 0 to 4 with small dimensions, zero-size ones included. */
const shapeArb = fc.array(int(0, 4), { minLength: 0, maxLength: 4 });

function tensorArb(dtype: Dtype): fc.Arbitrary<Tensor> {
  return shapeArb.chain((shape) => {
    const count = shape.reduce((a, b) => a * b, 1);
    return fc
      .array(VALUES[dtype], { minLength: count, maxLength: count })
      .map((values) => createTensor(dtype, shape, typedArrayOf(dtype, values)));
  });
}

function bytesOf(data: TypedArray): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Same dtype, same shape, and the same bytes (so NaN payloads and -0 count). */
function expectSameTensor(actual: Tensor, expected: Tensor): void {
  expect(actual.dtype).toBe(expected.dtype);
  expect([...actual.shape]).toEqual([...expected.shape]);
  if (expected.dtype === 'string') {
    expect(actual.data).toEqual(expected.data);
    return;
  }
  if (expected.dtype === 'bytes') {
    const hex = (data: unknown) =>
      (data as Uint8Array[]).map((b) => Buffer.from(b).toString('hex'));
    expect(hex(actual.data)).toEqual(hex(expected.data));
    return;
  }
  expect(actual.data).toBeInstanceOf(DTYPE_ARRAYS[expected.dtype]);
  expect(bytesOf(actual.data as TypedArray).equals(bytesOf(expected.data as TypedArray))).toBe(
    true,
  );
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isConveyorError(error) ? error.code : `not a ConveyorError: ${String(error)}`;
  }
  return undefined;
}

const wire = (dtype: Dtype, shape: number[], bytes: number[]): WireTensor => ({
  dtype,
  shape,
  data: Buffer.from(bytes).toString('base64'),
});

describe('tensor codec round trip', () => {
  it.each(DTYPES)(
    'decodes what it encodes, bit for bit, for %s tensors of any small shape',
    (dtype) => {
      fc.assert(
        fc.property(tensorArb(dtype), (tensor) => {
          const encoded = encodeTensor(tensor);
          expect(WireTensorSchema.safeParse(encoded).success).toBe(true);
          expectSameTensor(decodeTensor(encoded), tensor);
        }),
      );
    },
  );

  it.each(DTYPES)(
    'round-trips %s tensors through z.encode and z.decode of TensorCodec',
    (dtype) => {
      fc.assert(
        fc.property(tensorArb(dtype), (tensor) => {
          const encoded = z.encode(TensorCodec, tensor);
          expect(encoded).toEqual(encodeTensor(tensor));
          expectSameTensor(z.decode(TensorCodec, encoded), tensor);
        }),
      );
    },
  );

  it('keeps -0, NaN and both infinities of float64', () => {
    const tensor = createTensor(
      'float64',
      [4],
      new Float64Array([-0, Number.NaN, Infinity, -Infinity]),
    );
    const decoded = decodeTensor(encodeTensor(tensor));
    expect(Object.is(decoded.data[0], -0)).toBe(true);
    expect(decoded.data[1]).toBeNaN();
    expect(decoded.data[2]).toBe(Infinity);
    expect(decoded.data[3]).toBe(-Infinity);
  });

  it('encodes only the view of a typed array that is a slice of a larger buffer', () => {
    const backing = new Int32Array([7, 1, 2, 3, 9]);
    const tensor = createTensor('int32', [3], backing.subarray(1, 4));
    const decoded = decodeTensor(encodeTensor(tensor));
    expect(Array.from(decoded.data as Int32Array)).toEqual([1, 2, 3]);
  });

  it('carries tensors converted to the model dtypes through JSON: an int64 of shape [] and bools', () => {
    const sr = toTensor('sr', 16000, undefined, { dtype: 'int64', shape: [] });
    const flag = toTensor('flag', [[true, 0]], undefined, { dtype: 'bool', shape: [-1, 2] });
    for (const tensor of [sr, flag]) {
      const wire = WireTensorSchema.parse(JSON.parse(JSON.stringify(encodeTensor(tensor))));
      expect(decodeTensor(wire)).toEqual(tensor);
    }
    expect(decodeTensor(encodeTensor(sr)).data).toEqual(new BigInt64Array([16000n]));
  });

  it('decodes into an aligned buffer of its own', () => {
    const decoded = decodeTensor(
      encodeTensor(createTensor('float64', [2], new Float64Array([1.5, -2.5]))),
    );
    const data = decoded.data as Float64Array;
    expect(data.byteOffset).toBe(0);
    expect(data.buffer.byteLength).toBe(16);
  });

  it('decodes a small tensor into the shared pool, aligned, when told it may', () => {
    for (let i = 0; i < 20; i++) {
      const values = Array.from({ length: i + 1 }, (_, j) => j * 1.25 - i);
      const wire = encodeTensor(createTensor('float64', [i + 1], new Float64Array(values)));
      const data = decodeTensor(wire, { pooled: true }).data as Float64Array;
      expect(data.byteOffset % 8).toBe(0);
      expect([...data]).toEqual(values);
    }
    const big = encodeTensor(createTensor('float32', [2048], new Float32Array(2048).fill(3)));
    const data = decodeTensor(big, { pooled: true }).data as Float32Array;
    expect(data.byteOffset).toBe(0);
    expect(data.buffer.byteLength).toBe(8192);
  });

  it('adopts stored bytes that fill a buffer of their own, and copies any other', () => {
    const whole = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const adopted = tensorFromBytes('float32', [3], whole, { adopt: true });
    expect((adopted.data as Float32Array).buffer).toBe(whole.buffer);
    const copy = tensorFromBytes('float32', [3], whole).data as Float32Array;
    expect(copy.buffer).not.toBe(whole.buffer);
    const slice = new Uint8Array(16).subarray(4);
    slice.set(whole);
    const copied = tensorFromBytes('float32', [3], slice, { adopt: true }).data as Float32Array;
    expect(copied.buffer).not.toBe(slice.buffer);
    expect(copied.byteOffset).toBe(0);
    expect([...copied]).toEqual([1, 2, 3]);
  });
});

describe('tensor wire form', () => {
  it('writes elements as little-endian bytes', () => {
    expect(encodeTensor(createTensor('float32', [1], new Float32Array([1]))).data).toBe(
      Buffer.from([0x00, 0x00, 0x80, 0x3f]).toString('base64'),
    );
    expect(encodeTensor(createTensor('int32', [], new Int32Array([0x01020304]))).data).toBe(
      Buffer.from([0x04, 0x03, 0x02, 0x01]).toString('base64'),
    );
  });

  it('reads little-endian bytes as elements', () => {
    const decoded = decodeTensor(wire('uint16', [2], [0x34, 0x12, 0xff, 0x00]));
    expect(Array.from(decoded.data as Uint16Array)).toEqual([0x1234, 0x00ff]);
  });

  it('carries the dtype and the shape unchanged', () => {
    const encoded = encodeTensor(createTensor('uint8', [2, 0, 3], new Uint8Array(0)));
    expect(encoded).toEqual({ dtype: 'uint8', shape: [2, 0, 3], data: '' });
  });
});

describe('tensor decoding failures', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('rejects data whose byte length does not match the shape with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => decodeTensor(wire('float32', [2], [0, 0, 0x80, 0x3f])))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => decodeTensor(wire('float32', [1], [0, 0, 0x80, 0x3f, 0])))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => decodeTensor(wire('int64', [], [1, 0, 0, 0])))).toBe('ERR_TENSOR_INVALID');
  });

  it('rejects a huge shape with ERR_TENSOR_TOO_LARGE before decoding or allocating anything', () => {
    const from = vi.spyOn(Buffer, 'from');
    expect(codeOf(() => decodeTensor({ dtype: 'float64', shape: [1e6, 1e6, 1e6], data: '' }))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
    expect(from).not.toHaveBeenCalled();
    decodeTensor(wire('uint8', [1], [7]));
    expect(from).toHaveBeenCalled();
  });

  it('rejects a tensor over the maxBytes option with ERR_TENSOR_TOO_LARGE', () => {
    const encoded = encodeTensor(createTensor('float32', [5], new Float32Array(5)));
    expect(codeOf(() => decodeTensor(encoded, { maxBytes: 16 }))).toBe('ERR_TENSOR_TOO_LARGE');
    expect(decodeTensor(encoded, { maxBytes: 20 }).shape).toEqual([5]);
  });

  it('writes strings as length-prefixed UTF-8 and refuses string data that does not add up', () => {
    const encoded = encodeTensor(createTensor('string', [2], ['hé', '']));
    expect(Buffer.from(encoded.data, 'base64')).toEqual(
      Buffer.from([3, 0, 0, 0, 0x68, 0xc3, 0xa9, 0, 0, 0, 0]),
    );
    // Too few bytes for the length prefixes, a length past the end, bytes left over, bad UTF-8.
    expect(codeOf(() => decodeTensor(wire('string', [2], [0, 0, 0, 0])))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => decodeTensor(wire('string', [1], [9, 0, 0, 0, 0x61])))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => decodeTensor(wire('string', [1], [1, 0, 0, 0, 0x61, 0x62])))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => decodeTensor(wire('string', [1], [1, 0, 0, 0, 0xff])))).toBe(
      'ERR_TENSOR_INVALID',
    );
    // The limit counts the bytes of the strings, not only their number.
    const long = encodeTensor(createTensor('string', [1], ['x'.repeat(100)]));
    expect(codeOf(() => decodeTensor(long, { maxBytes: 64 }))).toBe('ERR_TENSOR_TOO_LARGE');
  });

  it('decodes small tensors into arrays of their own, one per call', () => {
    const one = decodeTensor(wire('float32', [1], [0, 0, 0x80, 0x3f]));
    const two = decodeTensor(wire('float32', [1], [0, 0, 0, 0x40]));
    expect([one.data[0], two.data[0]]).toEqual([1, 2]);
    expect((one.data as TypedArray).buffer).not.toBe((two.data as TypedArray).buffer);
    expect(codeOf(() => decodeTensor({ dtype: 'uint8', shape: [3], data: '!!!!' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('rejects bool bytes other than 0 and 1 with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => decodeTensor(wire('bool', [3], [0, 1, 2])))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => decodeTensor(wire('bool', [1], [0xff])))).toBe('ERR_TENSOR_INVALID');
  });

  it('rejects negative or fractional dimensions in decodeTensor with ERR_TENSOR_INVALID', () => {
    expect(codeOf(() => decodeTensor({ dtype: 'uint8', shape: [-1], data: '' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => decodeTensor({ dtype: 'uint8', shape: [1.5], data: 'AA==' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('refuses negative and non-integer dimensions in the wire schema', () => {
    for (const shape of [[-1], [2, -3], [1.5], [Number.NaN], [Infinity]]) {
      expect(WireTensorSchema.safeParse({ dtype: 'uint8', shape, data: '' }).success).toBe(false);
    }
  });

  it('refuses more than 16 dimensions in the wire schema', () => {
    expect(
      WireTensorSchema.safeParse({ dtype: 'uint8', shape: Array<number>(17).fill(1), data: 'AA==' })
        .success,
    ).toBe(false);
  });

  it('refuses data that is not base64 in the wire schema', () => {
    for (const data of ['abc!', 'abc', 'AA=', '====', 'AAAA AAAA', 'AA==AA==']) {
      expect(WireTensorSchema.safeParse({ dtype: 'uint8', shape: [3], data }).success).toBe(false);
    }
  });

  it('refuses an unknown dtype and extra fields in the wire schema', () => {
    expect(WireTensorSchema.safeParse({ dtype: 'complex64', shape: [], data: '' }).success).toBe(
      false,
    );
    expect(
      WireTensorSchema.safeParse({ dtype: 'uint8', shape: [], data: 'AA==', dims: [] }).success,
    ).toBe(false);
  });

  it('reports a decoding failure through TensorCodec as a zod issue carrying the Conveyor code', () => {
    const tooLong = z.safeDecode(TensorCodec, wire('float32', [2], [0, 0, 0x80, 0x3f]));
    expect(tooLong.success).toBe(false);
    expect(tooLong.error?.issues).toEqual([
      expect.objectContaining({ code: 'custom', params: { code: 'ERR_TENSOR_INVALID' } }),
    ]);

    const huge = z.safeDecode(TensorCodec, { dtype: 'float32', shape: [1e6, 1e6, 1e6], data: '' });
    expect(huge.error?.issues).toEqual([
      expect.objectContaining({ code: 'custom', params: { code: 'ERR_TENSOR_TOO_LARGE' } }),
    ]);
  });

  it('rejects a malformed wire tensor in z.decode before decoding it', () => {
    const result = z.safeDecode(TensorCodec, {
      dtype: 'uint8',
      shape: [-1],
      data: 'abc!',
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path[0])).toEqual(['shape', 'data']);
  });
});
