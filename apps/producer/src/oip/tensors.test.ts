import { describe, expect, it } from 'vitest';
import {
  ConveyorError,
  createTensor,
  encodeBytes,
  encodeStrings,
  toTensor,
  type ErrorCode,
} from '@conveyor/shared';
import { encodeOipOutputs, toOipOutputs, toSdkInputs } from './tensors.js';
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
    ).toEqual({ t: { dtype: 'float64', shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) } });
  });

  it('hands numeric inputs to the SDK as tensors it takes without a second check', () => {
    const floats = Buffer.from(new Float32Array([0.5, -1, 2, 4]).buffer);
    const binary = { ...input('FP32', [1, 4], []), parameters: { binary_data_size: 16 } };
    const json = { ...input('FP64', [2], [1, 2]), name: 'j' };
    const inputs = toSdkInputs([binary, json], MAX, floats);
    expect(toTensor('t', inputs.t, MAX)).toBe(inputs.t);
    expect(toTensor('j', inputs.j, MAX)).toBe(inputs.j);
    expect(inputs.t).toEqual({
      dtype: 'float32',
      shape: [1, 4],
      data: new Float32Array([0.5, -1, 2, 4]),
    });
  });

  it('reads 64-bit integers given as decimal strings without losing precision', () => {
    const inputs = toSdkInputs([input('INT64', [2], ['9007199254740993', -1])], MAX);
    const tensor = toTensor('t', inputs.t);
    expect(Array.from(tensor.data as BigInt64Array)).toEqual([9007199254740993n, -1n]);
  });

  it('converts FP16 numbers to half-precision bits, and reads non-finite floats from strings', () => {
    const inputs = toSdkInputs(
      [input('FP16', [3], [1, -2, 'Infinity']), { ...input('FP64', [1], ['NaN']), name: 'd' }],
      MAX,
    );
    expect(toTensor('t', inputs.t).data).toEqual(new Uint16Array([0x3c00, 0xc000, 0x7c00]));
    expect(toTensor('d', inputs.d).data).toEqual(new Float64Array([Number.NaN]));
  });

  it('reads binary inputs in order from the binary part of the body', () => {
    const ints = new Int32Array([1, -2]);
    const bits = new Uint8Array([1, 0, 1]);
    const binary = Buffer.concat([Buffer.from(ints.buffer), Buffer.from(bits)]);
    const inputs = toSdkInputs(
      [
        { name: 'i', datatype: 'INT32', shape: [2], parameters: { binary_data_size: 8 } },
        { name: 'b', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } },
      ],
      MAX,
      binary.subarray(0),
    );
    expect(toTensor('i', inputs.i).data).toEqual(ints);
    expect(toTensor('b', inputs.b)).toMatchObject({ dtype: 'bool', data: bits });
  });

  it('carries BYTES as text, in JSON and as length-prefixed binary blocks', () => {
    const json = toSdkInputs([input('BYTES', [2], ['a', 'é'])], MAX);
    expect(toTensor('t', json.t)).toMatchObject({ dtype: 'string', data: ['a', 'é'] });
    const text = { dtype: 'string' as const, shape: [-1] };
    const block = encodeStrings(['', '日本']);
    const binary = toSdkInputs(
      [
        {
          name: 's',
          datatype: 'BYTES',
          shape: [2],
          parameters: { binary_data_size: block.length },
        },
      ],
      MAX,
      block,
    );
    expect(toTensor('s', binary.s, MAX, text)).toMatchObject({
      dtype: 'string',
      data: ['', '日本'],
    });
    // A block shorter than its length prefixes, or one whose lengths do not fill it, is refused.
    const short = {
      name: 's',
      datatype: 'BYTES' as const,
      shape: [2],
      parameters: { binary_data_size: 4 },
    };
    expect(codeOf(() => toSdkInputs([short], MAX, Buffer.alloc(4)))).toBe('ERR_TENSOR_INVALID');
    const loose = { ...short, parameters: { binary_data_size: block.length + 1 } };
    expect(codeOf(() => toSdkInputs([loose], MAX, Buffer.concat([block, Buffer.from([0])])))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });

  it('carries BYTES for a bytes input as raw bytes: base64 in JSON, any bytes in binary blocks', () => {
    const raw = { dtype: 'bytes' as const, shape: [-1] };
    const blobs = [Buffer.from([0x00, 0xff, 0x80]), Buffer.from([])];
    const hex = (data: unknown) =>
      (data as Uint8Array[]).map((b) => Buffer.from(b).toString('hex'));
    const base64 = blobs.map((b) => b.toString('base64'));
    const json = toSdkInputs([input('BYTES', [2], base64)], MAX);
    const fromJson = toTensor('t', json.t, MAX, raw);
    expect(fromJson.dtype).toBe('bytes');
    expect(hex(fromJson.data)).toEqual(['00ff80', '']);
    const block = encodeBytes(blobs);
    const binary = toSdkInputs(
      [
        {
          name: 'b',
          datatype: 'BYTES',
          shape: [2],
          parameters: { binary_data_size: block.length },
        },
      ],
      MAX,
      block,
    );
    const fromBinary = toTensor('b', binary.b, MAX, raw);
    expect(fromBinary.dtype).toBe('bytes');
    expect(hex(fromBinary.data)).toEqual(['00ff80', '']);
    // The same invalid UTF-8 for a string input is refused; text that is not base64 for bytes too.
    expect(codeOf(() => toTensor('b', binary.b, MAX, { dtype: 'string', shape: [-1] }))).toBe(
      'ERR_TENSOR_INVALID',
    );
    const notBase64 = toSdkInputs([input('BYTES', [1], ['not base64!'])], MAX);
    expect(codeOf(() => toTensor('t', notBase64.t, MAX, raw))).toBe('ERR_TENSOR_INVALID');
  });

  const binaryInput = (size: number): InferInput => ({
    name: 'i',
    datatype: 'INT32',
    shape: [2],
    parameters: { binary_data_size: size },
  });
  it.each([
    ['a binary_data_size that does not match the shape', binaryInput(4), Buffer.alloc(4)],
    ['more binary bytes than the inputs take', binaryInput(8), Buffer.alloc(12)],
    ['fewer binary bytes than binary_data_size', binaryInput(8), Buffer.alloc(4)],
    ['binary_data_size without a binary body', binaryInput(8), undefined],
  ])('refuses %s with ERR_TENSOR_INVALID', (_name, item, binary) => {
    expect(codeOf(() => toSdkInputs([item], MAX, binary))).toBe('ERR_TENSOR_INVALID');
  });

  const refused: [string, InferInput[], ErrorCode][] = [
    ['a number in BYTES data', [input('BYTES', [2], ['a', 1])], 'ERR_TENSOR_INVALID'],
    ['a number in BOOL data', [input('BOOL', [1], [2])], 'ERR_TENSOR_INVALID'],
    ['"NaN" in integer data', [input('INT32', [1], ['NaN'])], 'ERR_TENSOR_INVALID'],
    ['a repeated input name', [input('FP32', [1], [1]), input('FP32', [1], [2])], 'ERR_VALIDATION'],
    ['flat data shorter than the shape', [input('FP32', [2, 2], [1, 2, 3])], 'ERR_TENSOR_INVALID'],
    ['nested data of another shape', [input('FP32', [2, 2], [[1, 2, 3, 4]])], 'ERR_TENSOR_INVALID'],
    ['ragged nested data', [input('FP32', [2, 2], [[1, 2], [3]])], 'ERR_TENSOR_INVALID'],
    ['a null element', [input('FP32', [2], [1, null])], 'ERR_TENSOR_INVALID'],
    ['a boolean in numeric data', [input('INT8', [2], [1, true])], 'ERR_TENSOR_INVALID'],
    ['a string in 32-bit data', [input('INT32', [1], ['7'])], 'ERR_TENSOR_INVALID'],
    ['1e39 as FP32', [input('FP32', [2], [1, 1e39])], 'ERR_INPUT_VALUE'],
    ['-1e39 as FP32, nested', [input('FP32', [1, 2], [[1, -1e39]])], 'ERR_INPUT_VALUE'],
    ['70000 as FP16', [input('FP16', [1], [70_000])], 'ERR_INPUT_VALUE'],
    [
      'a JSON literal past every float (1e400)',
      [input('FP64', [1], [JSON.parse('1e400')])],
      'ERR_INPUT_VALUE',
    ],
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
  it('writes bytes outputs as BYTES: base64 strings in JSON, length-prefixed raw in binary', () => {
    const tensor = createTensor('bytes', [2], [new Uint8Array([0xff, 0]), new Uint8Array([])]);
    expect(toOipOutputs({ b: tensor })).toEqual([
      { name: 'b', shape: [2], datatype: 'BYTES', data: ['/wA=', ''] },
    ]);
    const { outputs, blocks } = encodeOipOutputs({ b: tensor }, { binary: () => true });
    expect(outputs[0]).toMatchObject({ datatype: 'BYTES', parameters: { binary_data_size: 10 } });
    expect(Buffer.from(blocks[0]!)).toEqual(Buffer.from([2, 0, 0, 0, 0xff, 0, 0, 0, 0, 0]));
  });

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

describe('encodeOipOutputs', () => {
  const outputs = {
    a: createTensor('int16', [2], new Int16Array([1, -1])),
    b: createTensor('float32', [1], new Float32Array([0.5])),
  };

  it('writes the outputs a request lists in its order, binary ones as bytes after the header', () => {
    const { outputs: written, blocks } = encodeOipOutputs(outputs, {
      order: ['b', 'a'],
      binary: (name) => name === 'a',
    });
    expect(written).toEqual([
      { name: 'b', datatype: 'FP32', shape: [1], data: [0.5] },
      { name: 'a', datatype: 'INT16', shape: [2], parameters: { binary_data_size: 4 } },
    ]);
    expect(blocks.map((b) => Array.from(b))).toEqual([[1, 0, 0xff, 0xff]]);
  });

  it('writes every output as JSON, in the prediction order, by default', () => {
    const { outputs: written, blocks } = encodeOipOutputs(outputs);
    expect(written.map((o) => [o.name, 'data' in o ? o.data : undefined])).toEqual([
      ['a', [1, -1]],
      ['b', [0.5]],
    ]);
    expect(blocks).toEqual([]);
  });
});
