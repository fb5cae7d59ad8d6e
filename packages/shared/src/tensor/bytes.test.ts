import { describe, expect, it } from 'vitest';
import { isConveyorError } from '../errors.js';
import { toTensor } from '../schemas/predict-request.js';
import {
  WireTensorSchema,
  decodeBytes,
  decodeTensor,
  encodeTensor,
  tensorBytes,
  tensorFromBytes,
} from './codec.js';
import { createTensor } from './tensor.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isConveyorError(error) ? error.code : `not a ConveyorError: ${String(error)}`;
  }
  return undefined;
}

const hex = (data: unknown) => (data as Uint8Array[]).map((b) => Buffer.from(b).toString('hex'));

// 0x00, 0xff and sequences that are not UTF-8 (a lone continuation byte, an overlong NUL).
const BLOBS = [
  new Uint8Array([]),
  new Uint8Array([0x00, 0xff, 0x00]),
  new Uint8Array([0x80]),
  new Uint8Array([0xc0, 0x80, 0xfe]),
  new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
];

describe('bytes tensors', () => {
  it('round-trips bytes that are not UTF-8 through the wire form and stored bytes', () => {
    const tensor = createTensor('bytes', [BLOBS.length], BLOBS);
    const wire = WireTensorSchema.parse(JSON.parse(JSON.stringify(encodeTensor(tensor))));
    const decoded = decodeTensor(wire);
    expect(decoded.dtype).toBe('bytes');
    expect(hex(decoded.data)).toEqual(hex(BLOBS));
    const stored = tensorFromBytes('bytes', [BLOBS.length], tensorBytes(tensor));
    expect(hex(stored.data)).toEqual(hex(BLOBS));
  });

  it('writes each element as a 4-byte little-endian length then its bytes, with no UTF-8 check', () => {
    const tensor = createTensor('bytes', [2], [new Uint8Array([0xff]), new Uint8Array([])]);
    expect(tensorBytes(tensor)).toEqual(Buffer.from([1, 0, 0, 0, 0xff, 0, 0, 0, 0]));
    expect(hex(decodeBytes(Buffer.from([1, 0, 0, 0, 0xff]), 1))).toEqual(['ff']);
  });

  it('never shares the stored bytes it was read from', () => {
    const source = Buffer.from([2, 0, 0, 0, 7, 8]);
    const tensor = tensorFromBytes('bytes', [1], source);
    source[4] = 0;
    expect(hex(tensor.data)).toEqual(['0708']);
  });

  it('refuses bytes data that does not add up with ERR_TENSOR_INVALID', () => {
    const wire = (shape: number[], bytes: number[]) => ({
      dtype: 'bytes' as const,
      shape,
      data: Buffer.from(bytes).toString('base64'),
    });
    expect(codeOf(() => decodeTensor(wire([2], [0, 0, 0, 0])))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => decodeTensor(wire([1], [9, 0, 0, 0, 0xff])))).toBe('ERR_TENSOR_INVALID');
    expect(codeOf(() => decodeTensor(wire([1], [1, 0, 0, 0, 0xff, 0xfe])))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('counts the bytes of the elements against the limit, not only their number', () => {
    const big = createTensor('bytes', [1], [new Uint8Array(100)]);
    expect(codeOf(() => decodeTensor(encodeTensor(big), { maxBytes: 64 }))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
    expect(codeOf(() => tensorFromBytes('bytes', [1], tensorBytes(big), { maxBytes: 64 }))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
    expect(codeOf(() => createTensor('bytes', [1], [new Uint8Array(100)], 64))).toBe(
      'ERR_TENSOR_TOO_LARGE',
    );
    expect(codeOf(() => toTensor('image', new Uint8Array(100), 64))).toBe('ERR_TENSOR_TOO_LARGE');
    expect(createTensor('bytes', [1], [new Uint8Array(60)], 64).shape).toEqual([1]);
  });

  it('refuses data that is not an array of Uint8Array', () => {
    expect(codeOf(() => createTensor('bytes', [1], ['x'] as unknown as Uint8Array[]))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });
});

describe('bytes inputs', () => {
  const spec = { dtype: 'bytes' as const, shape: [-1] };

  it('takes a Buffer as the one element of a bytes input, one row', () => {
    const tensor = toTensor('image', Buffer.from([0x00, 0xff]), undefined, spec);
    expect(tensor.dtype).toBe('bytes');
    expect(tensor.shape).toEqual([1]);
    expect(hex(tensor.data)).toEqual(['00ff']);
    expect(toTensor('image', new Uint8Array([1]), undefined, { ...spec, shape: [] }).shape).toEqual(
      [],
    );
  });

  it('takes an array of Uint8Arrays as rows, and infers bytes without a signature', () => {
    const tensor = toTensor('image', [new Uint8Array([1]), Buffer.from([2, 3])]);
    expect(tensor.dtype).toBe('bytes');
    expect(tensor.shape).toEqual([2]);
    expect(hex(tensor.data)).toEqual(['01', '0203']);
  });

  it('reads base64 strings for an input the model declares bytes (the JSON form)', () => {
    const tensor = toTensor('image', [Buffer.from([0, 0xff, 0x80]).toString('base64')], 1024, spec);
    expect(tensor.dtype).toBe('bytes');
    expect(hex(tensor.data)).toEqual(['00ff80']);
    const named = toTensor('image', { data: ['AP8='], dtype: 'bytes' });
    expect(hex(named.data)).toEqual(['00ff']);
  });

  it('refuses a string that is not base64 for a bytes input with ERR_TENSOR_INVALID', () => {
    for (const text of ['not base64!', 'AAA', 'AA==AA=='])
      expect(codeOf(() => toTensor('image', [text], 1024, spec))).toBe('ERR_TENSOR_INVALID');
  });

  it('refuses numbers and typed arrays other than element-wise Uint8Arrays for bytes', () => {
    expect(codeOf(() => toTensor('image', { data: [1, 2], dtype: 'bytes' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    expect(codeOf(() => toTensor('image', { data: new Uint8Array(2), dtype: 'bytes' }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });
});
