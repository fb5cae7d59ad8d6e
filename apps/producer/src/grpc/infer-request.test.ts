import { describe, expect, it } from 'vitest';
import { decodeStrings, isConveyorError, toTensor } from '@conveyor/shared';
import { status } from '@grpc/grpc-js';
import { toSdkInputs } from '../oip/tensors.js';
import { toRestInfer } from './infer-request.js';
import type { InferTensorContents, ModelInferRequest } from './proto.js';
import { grpcStatusOf } from './status.js';

const EMPTY: InferTensorContents = {
  bool_contents: [],
  int_contents: [],
  int64_contents: [],
  uint_contents: [],
  uint64_contents: [],
  fp32_contents: [],
  fp64_contents: [],
  bytes_contents: [],
};

/** A request as proto-loader decodes it (defaults filled in). */
const request = (overrides: Partial<ModelInferRequest>): ModelInferRequest => ({
  model_name: 'echo',
  model_version: '',
  id: '',
  parameters: {},
  inputs: [],
  outputs: [],
  raw_input_contents: [],
  ...overrides,
});

const input = (datatype: string, contents: Partial<InferTensorContents> | null, name = 'x') => ({
  name,
  datatype,
  shape: ['2', '3'],
  parameters: {},
  contents: contents === null ? null : { ...EMPTY, ...contents },
});

describe('toRestInfer', () => {
  it('reads typed contents as REST JSON data: INT64 past 2^53 as text, non-finite floats as words', () => {
    const { body, binary } = toRestInfer(
      request({
        inputs: [
          input(
            'INT64',
            { int64_contents: ['-9223372036854775808', '-1', '0', '1', '7', '5'] },
            'a',
          ),
          input('FP32', { fp32_contents: [0, 1.5, Number.NaN, Infinity, -Infinity, 2] }, 'b'),
          input('BOOL', { bool_contents: [true, false, true, false, true, false] }, 'c'),
        ],
      }),
    );
    expect(binary).toBeUndefined();
    expect(body.inputs).toEqual([
      {
        name: 'a',
        datatype: 'INT64',
        shape: [2, 3],
        data: ['-9223372036854775808', -1, 0, 1, 7, 5],
      },
      {
        name: 'b',
        datatype: 'FP32',
        shape: [2, 3],
        data: [0, 1.5, 'NaN', 'Infinity', '-Infinity', 2],
      },
      { name: 'c', datatype: 'BOOL', shape: [2, 3], data: [true, false, true, false, true, false] },
    ]);
  });

  it('sends BYTES contents as length-prefixed binary, and raw contents as they are', () => {
    const text = ['', 'a', 'héllo', '日本', '😀', 'z'];
    const typed = toRestInfer(
      request({ inputs: [input('BYTES', { bytes_contents: text.map((t) => Buffer.from(t)) })] }),
    );
    expect(decodeStrings(typed.binary!, 6)).toEqual(text);
    expect(typed.body.inputs[0]?.parameters).toEqual({ binary_data_size: typed.binary!.length });
    const raw = [Buffer.alloc(24, 1), Buffer.alloc(48, 2)];
    const both = toRestInfer(
      request({
        inputs: [input('FP32', null, 'a'), input('FP64', null, 'b')],
        raw_input_contents: raw,
      }),
    );
    expect(both.binary).toEqual(Buffer.concat(raw));
    expect(both.body.inputs.map((i) => i.parameters?.binary_data_size)).toEqual([24, 48]);
  });

  it('carries bytes_contents to a bytes input as raw bytes, invalid UTF-8 included', () => {
    const blobs = [Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.from([0xff, 0x00, 0x80])];
    const call = toRestInfer(
      request({
        inputs: [{ ...input('BYTES', { bytes_contents: blobs }), shape: ['2'] }],
      }),
    );
    const inputs = toSdkInputs(call.body.inputs, 1024, call.binary);
    const tensor = toTensor('x', inputs.x, 1024, { dtype: 'bytes', shape: [-1] });
    expect(tensor.dtype).toBe('bytes');
    expect((tensor.data as Uint8Array[]).map((b) => Buffer.from(b))).toEqual(blobs);
  });

  it('turns parameters into plain values, and keeps id, version and outputs', () => {
    const { name, version, body } = toRestInfer(
      request({
        model_name: 'iris',
        model_version: '2',
        id: 'r1',
        parameters: {
          timeout: { parameter_choice: 'int64_param', int64_param: '1500' },
          tag: { parameter_choice: 'string_param', string_param: 'x' },
          binary_data_output: { parameter_choice: 'bool_param', bool_param: true },
        },
        inputs: [input('FP32', { fp32_contents: [1, 2, 3, 4, 5, 6] })],
        outputs: [{ name: 'y', parameters: {} }],
      }),
    );
    expect({ name, version }).toEqual({ name: 'iris', version: '2' });
    expect(body).toMatchObject({
      id: 'r1',
      parameters: { timeout: 1500, tag: 'x', binary_data_output: true },
      outputs: [{ name: 'y' }],
    });
  });

  it.each([
    [
      'contents beside raw contents',
      request({ inputs: [input('FP32', {})], raw_input_contents: [Buffer.alloc(24)] }),
    ],
    [
      'contents in another datatype field',
      request({ inputs: [input('FP32', { int_contents: [1, 2, 3, 4, 5, 6] })] }),
    ],
    [
      'raw blocks that do not match the inputs',
      request({
        inputs: [input('FP32', null)],
        raw_input_contents: [Buffer.alloc(4), Buffer.alloc(4)],
      }),
    ],
    [
      'a model name no model can have',
      request({ model_name: 'Not A Name', inputs: [input('FP32', null)] }),
    ],
    ['no inputs', request({})],
  ])('refuses %s with a 400 catalogue code', (_name, bad) => {
    let thrown: unknown;
    try {
      toRestInfer(bad);
    } catch (error) {
      thrown = error;
    }
    expect(isConveyorError(thrown) && thrown.status).toBe(400);
  });
});

describe('grpcStatusOf', () => {
  it('maps the HTTP status of each code to its gRPC status', () => {
    expect(
      [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503, 504, 507].map(grpcStatusOf),
    ).toEqual([
      status.INVALID_ARGUMENT,
      status.UNAUTHENTICATED,
      status.PERMISSION_DENIED,
      status.NOT_FOUND,
      status.ALREADY_EXISTS,
      status.RESOURCE_EXHAUSTED,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      status.RESOURCE_EXHAUSTED,
      status.INTERNAL,
      status.UNAVAILABLE,
      status.DEADLINE_EXCEEDED,
      status.RESOURCE_EXHAUSTED,
    ]);
  });
});
