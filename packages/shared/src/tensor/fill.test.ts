import { describe, expect, it } from 'vitest';
import { isConveyorError, type ConveyorError } from '../errors.js';
import type { Dtype } from './dtype.js';
import { fill, plainDtype, type DtypeSource } from './fill.js';

function failure(run: () => unknown): ConveyorError {
  try {
    run();
  } catch (error) {
    if (isConveyorError(error)) return error;
    throw new Error(`expected a ConveyorError, got ${String(error)}`);
  }
  throw new Error('expected a ConveyorError, but nothing was thrown');
}

const forModel = (layout: number[]) => ({ input: 'x', layout, source: 'model' as const });
const values = (dtype: Dtype, data: unknown[]) =>
  Array.from(fill(dtype, data, forModel([data.length])) as ArrayLike<unknown>);

describe('plainDtype', () => {
  type Resolved = { dtype: Dtype; source: DtypeSource };
  const model = (dtype: Dtype): Resolved => ({ dtype, source: 'model' });
  const implied = (dtype: Dtype): Resolved => ({ dtype, source: 'caller' });
  it.each([
    ['numbers', 1, 'int64', model('int64')],
    ['numbers', 1, 'uint8', model('uint8')],
    ['numbers', 1, 'bool', model('bool')],
    ['numbers', 1.5, 'float64', model('float64')],
    ['numbers', 1.5, 'float16', model('float16')],
    ['bigints', 1n, 'int32', model('int32')],
    ['bigints', 1n, 'uint64', model('uint64')],
    ['booleans', true, 'bool', model('bool')],
    ['strings', 'a', 'string', model('string')],
    ['no elements', undefined, 'int8', model('int8')],
    ['numbers', 1, 'string', implied('float32')],
    ['bigints', 1n, 'float32', implied('int64')],
    ['bigints', 1n, 'bool', implied('int64')],
    ['booleans', true, 'int64', implied('bool')],
    ['strings', '1', 'int64', implied('string')],
    ['nulls', null, 'int64', implied('float32')],
  ] as const)('takes %s led by %s to a declared %s as %o', (_kind, first, declared, expected) => {
    expect(plainDtype(first, declared)).toEqual(expected);
  });

  it('falls back to the dtype the values imply when the model declares none', () => {
    expect(plainDtype(1, undefined)).toEqual(implied('float32'));
    expect(plainDtype(1n, undefined)).toEqual(implied('int64'));
    expect(plainDtype(false, undefined)).toEqual(implied('bool'));
    expect(plainDtype('a', undefined)).toEqual(implied('string'));
  });
});

describe('fill converting for the model', () => {
  it('holds the extremes of every integer dtype, as numbers and as bigints', () => {
    expect(values('int8', [-128, 127])).toEqual([-128, 127]);
    expect(values('uint8', [0, 255])).toEqual([0, 255]);
    expect(values('int16', [-32768, 32767n])).toEqual([-32768, 32767]);
    expect(values('uint16', [0, 65535])).toEqual([0, 65535]);
    expect(values('int32', [-(2 ** 31), 2 ** 31 - 1])).toEqual([-(2 ** 31), 2 ** 31 - 1]);
    expect(values('uint32', [0, 2 ** 32 - 1])).toEqual([0, 2 ** 32 - 1]);
    const safe = Number.MAX_SAFE_INTEGER;
    expect(values('int64', [-safe, safe, -(2n ** 63n)])).toEqual([
      BigInt(-safe),
      BigInt(safe),
      -(2n ** 63n),
    ]);
    expect(values('uint64', [0, 2n ** 64n - 1n])).toEqual([0n, 2n ** 64n - 1n]);
  });

  it('writes int64 and uint64 into their bigint arrays', () => {
    expect(fill('int64', [16000], forModel([]))).toEqual(new BigInt64Array([16000n]));
    expect(fill('uint64', [7], forModel([1]))).toEqual(new BigUint64Array([7n]));
  });

  it('takes 0, 1, true and false for bool', () => {
    expect(fill('bool', [0, 1, true, false], forModel([4]))).toEqual(new Uint8Array([0, 1, 1, 0]));
  });

  it('takes any number for a float dtype, float16 as its bits', () => {
    expect(values('float64', [0.1, -2.5])).toEqual([0.1, -2.5]);
    expect(values('float32', [0.5, Number.NaN])).toEqual([0.5, Number.NaN]);
    expect(fill('float16', [1, -2, 65504], forModel([3]))).toEqual(
      new Uint16Array([0x3c00, 0xc000, 0x7bff]),
    );
  });

  it.each([
    ['a fraction for an integer dtype', 'int32', [1, 2.5], 1, ['-2147483648', '2147483647']],
    [
      'NaN for an integer dtype',
      'int64',
      [Number.NaN],
      0,
      ['-9007199254740991', '9007199254740991'],
    ],
    ['Infinity for an integer dtype', 'uint8', [Number.POSITIVE_INFINITY], 0, ['0', '255']],
    [
      'an unsafe integer number for int64',
      'int64',
      [2 ** 53],
      0,
      ['-9007199254740991', '9007199254740991'],
    ],
    ['an unsafe integer number for uint64', 'uint64', [2 ** 60], 0, ['0', '9007199254740991']],
    ['2 for bool', 'bool', [0, 1, 2], 2, ['0', '1']],
    ['0.5 for bool', 'bool', [0.5], 0, ['0', '1']],
  ] as const)(
    'refuses %s with ERR_INPUT_DTYPE naming the input, the index and the range',
    (_name, dtype, data, index, [min, max]) => {
      const error = failure(() => fill(dtype, data, forModel([data.length])));
      expect(error.code).toBe('ERR_INPUT_DTYPE');
      expect(error.details).toEqual({ input: 'x', index, dtype, min, max });
    },
  );

  it.each([
    ['128 for int8', 'int8', [128], 0, ['-128', '127']],
    ['-1 for uint32', 'uint32', [5, -1], 1, ['0', '4294967295']],
    ['2^32 for uint32', 'uint32', [2 ** 32], 0, ['0', '4294967295']],
    ['a bigint past int16', 'int16', [2n ** 15n], 0, ['-32768', '32767']],
    [
      'a bigint past int64',
      'int64',
      [2n ** 63n],
      0,
      ['-9223372036854775808', '9223372036854775807'],
    ],
    ['-1n for uint64', 'uint64', [-1n], 0, ['0', '18446744073709551615']],
  ] as const)(
    'refuses %s with ERR_INPUT_VALUE naming the input, the index and the range',
    (_name, dtype, data, index, [min, max]) => {
      const error = failure(() => fill(dtype, data, forModel([data.length])));
      expect(error.code).toBe('ERR_INPUT_VALUE');
      expect(error.details).toEqual({ input: 'x', index, dtype, min, max });
    },
  );

  it.each([
    ['1e39 for float32', 'float32', 1e39],
    ['-1e39 for float32', 'float32', -1e39],
    ['70000 for float16', 'float16', 70_000],
    ['a bigint past every float for float64', 'float64', 10n ** 400n],
  ] as const)('refuses %s with ERR_INPUT_VALUE, not a silent Infinity', (_name, dtype, value) => {
    const error = failure(() => fill(dtype, [0, value], forModel([2])));
    expect(error.code).toBe('ERR_INPUT_VALUE');
    expect(error.details).toMatchObject({ input: 'x', element: 'element [1]', dtype });
  });

  it('keeps the largest finite floats and Infinity given as such', () => {
    expect(values('float32', [3.4028234663852886e38, Number.NEGATIVE_INFINITY])).toEqual([
      3.4028234663852886e38,
      Number.NEGATIVE_INFINITY,
    ]);
    expect(fill('float16', [65_504, Number.POSITIVE_INFINITY], forModel([2]))).toEqual(
      new Uint16Array([0x7bff, 0x7c00]),
    );
  });

  it('names the position of a bad element in nested data', () => {
    const error = failure(() => fill('int8', [1, 2, 3, 4.5], forModel([2, 2])));
    expect(error.details).toMatchObject({ input: 'x', index: 3 });
    expect(error.message).toContain('[1, 1]');
  });

  it('refuses an element of the wrong type with ERR_TENSOR_INVALID', () => {
    for (const [dtype, data] of [
      ['int64', [1, '2']],
      ['int32', [1, null]],
      ['float64', [{}]],
      ['bool', ['true']],
      ['string', ['a', 1]],
    ] as const) {
      const error = failure(() => fill(dtype, data, forModel([2])));
      expect(error.code).toBe('ERR_TENSOR_INVALID');
      expect(error.details).toMatchObject({ input: 'x' });
    }
  });
});

describe('fill in a dtype the caller chose', () => {
  const byCaller = { input: 'x', layout: [1], source: 'caller' } as const;

  it('refuses values of another kind than the dtype with ERR_TENSOR_INVALID, as bad data', () => {
    for (const [dtype, value] of [
      ['int32', 2.5],
      ['bool', 2],
    ] as const) {
      expect(failure(() => fill(dtype, [value], byCaller)).code).toBe('ERR_TENSOR_INVALID');
    }
  });

  it('refuses values out of the range of the dtype with ERR_INPUT_VALUE', () => {
    for (const [dtype, value] of [
      ['int8', 300],
      ['uint64', -1n],
      ['float32', 1e39],
      ['float64', -(10n ** 400n)],
    ] as const) {
      expect(failure(() => fill(dtype, [value], byCaller)).code).toBe('ERR_INPUT_VALUE');
    }
  });

  it('takes integer numbers past 2^53 for int64, as they are', () => {
    expect(fill('int64', [2 ** 60], byCaller)).toEqual(new BigInt64Array([2n ** 60n]));
  });

  it('refuses plain numbers for float16, whose data with a dtype are raw bits', () => {
    expect(failure(() => fill('float16', [1.5], byCaller)).code).toBe('ERR_TENSOR_INVALID');
  });
});
