import { describe, expect, it } from 'vitest';
import { ConveyorError, createTensor, toTensor, type ErrorCode } from '@conveyor/shared';
import { toOipOutputs, toSdkInputs } from './oip-tensors.js';
import type { InferInput } from './schemas.js';

const MAX = 1024 * 1024;
const input = (datatype: InferInput['datatype'], shape: number[], data: unknown[]): InferInput => ({
  name: 't',
  datatype,
  shape,
  data,
});

const codeOf = (call: () => unknown): ErrorCode | undefined => {
  try {
    call();
    return undefined;
  } catch (error) {
    return error instanceof ConveyorError ? error.code : 'ERR_INTERNAL';
  }
};

describe('toSdkInputs', () => {
  it('maps each supported datatype to its dtype and keeps flat data and shape', () => {
    const inputs = toSdkInputs(
      [input('INT32', [2, 2], [1, 2, 3, 4]), { ...input('BOOL', [2], [true, false]), name: 'b' }],
      MAX,
    );
    expect(inputs).toEqual({
      t: { dtype: 'int32', shape: [2, 2], data: [1, 2, 3, 4] },
      b: { dtype: 'bool', shape: [2], data: [true, false] },
    });
  });

  it('flattens nested data in row-major order when it matches the shape', () => {
    expect(
      toSdkInputs(
        [
          input(
            'FP64',
            [2, 2],
            [
              [1, 2],
              [3, 4],
            ],
          ),
        ],
        MAX,
      ),
    ).toEqual({ t: { dtype: 'float64', shape: [2, 2], data: [1, 2, 3, 4] } });
  });

  it('reads 64-bit integers given as decimal strings without losing precision', () => {
    const inputs = toSdkInputs([input('INT64', [2], ['9007199254740993', -1])], MAX);
    const tensor = toTensor('t', inputs.t);
    expect(Array.from(tensor.data as BigInt64Array)).toEqual([9007199254740993n, -1n]);
  });

  const refused: [string, InferInput[], ErrorCode][] = [
    ['FP16', [input('FP16', [1], [1])], 'ERR_VALIDATION'],
    ['BYTES', [input('BYTES', [1], ['a'])], 'ERR_VALIDATION'],
    ['a repeated input name', [input('FP32', [1], [1]), input('FP32', [1], [2])], 'ERR_VALIDATION'],
    ['flat data shorter than the shape', [input('FP32', [2, 2], [1, 2, 3])], 'ERR_TENSOR_INVALID'],
    ['nested data of another shape', [input('FP32', [2, 2], [[1, 2, 3, 4]])], 'ERR_TENSOR_INVALID'],
    ['ragged nested data', [input('FP32', [2, 2], [[1, 2], [3]])], 'ERR_TENSOR_INVALID'],
    ['a null element', [input('FP32', [2], [1, null])], 'ERR_TENSOR_INVALID'],
    ['a boolean in numeric data', [input('INT8', [2], [1, true])], 'ERR_TENSOR_INVALID'],
    ['a string in 32-bit data', [input('INT32', [1], ['7'])], 'ERR_TENSOR_INVALID'],
    [
      'a shape over the tensor limit, before reading data',
      [input('FP32', [1024, 1024], [])],
      'ERR_TENSOR_TOO_LARGE',
    ],
  ];
  it.each(refused)('refuses %s', (_name, inputs, code) => {
    expect(codeOf(() => toSdkInputs(inputs, MAX))).toBe(code);
  });
});

describe('toOipOutputs', () => {
  it('writes flat data with the protocol datatype and shape', () => {
    const outputs = toOipOutputs({
      p: createTensor('float32', [1, 2], new Float32Array([0.25, 0.75])),
    });
    expect(outputs).toEqual([{ name: 'p', datatype: 'FP32', shape: [1, 2], data: [0.25, 0.75] }]);
  });

  it('writes int64 as numbers when safe and as strings otherwise', () => {
    const [output] = toOipOutputs({
      i: createTensor('int64', [2], new BigInt64Array([5n, 2n ** 60n])),
    });
    expect(output).toMatchObject({ datatype: 'INT64', data: [5, (2n ** 60n).toString()] });
  });

  it('writes BOOL as booleans, FP16 as numbers, and non-finite floats as strings', () => {
    const outputs = toOipOutputs({
      b: createTensor('bool', [2], new Uint8Array([1, 0])),
      h: createTensor('float16', [2], new Uint16Array([0x3c00, 0xc000])),
      f: createTensor(
        'float64',
        [3],
        new Float64Array([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]),
      ),
    });
    expect(outputs.map((o) => [o.datatype, o.data])).toEqual([
      ['BOOL', [true, false]],
      ['FP16', [1, -2]],
      ['FP64', ['NaN', 'Infinity', '-Infinity']],
    ]);
  });
});
