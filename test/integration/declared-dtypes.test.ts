import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, defineModel, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { toNumbers, type ErrorCode } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';

/**
 * Plain JS values for inputs that are not float32: a model with an int64 scalar (a sample rate,
 * as voice-activity models take), a bool scalar and a float32 matrix gets `{ sr: 16000, flag:
 * true, x: [[1, 2, 3]] }` converted to the dtypes it declares, through the queue and embedded.
 */
// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

function info(name: string, elemType: number, dims: (number | string)[]): Onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** y = flag ? x * float(sr) : x, and next_sr = sr + 1. */
function scaleModel(): Uint8Array {
  const graph: Onnx.IGraphProto = {
    name: 'scale',
    input: [info('x', T.FLOAT, ['batch', 3]), info('sr', T.INT64, []), info('flag', T.BOOL, [])],
    output: [info('y', T.FLOAT, ['batch', 3]), info('next_sr', T.INT64, [])],
    initializer: [{ name: 'one', dims: [], dataType: T.INT64, int64Data: [1] }],
    node: [
      {
        opType: 'Cast',
        input: ['sr'],
        output: ['sr_float'],
        attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT }],
      },
      { opType: 'Mul', input: ['x', 'sr_float'], output: ['scaled'] },
      { opType: 'Where', input: ['flag', 'scaled', 'x'], output: ['y'] },
      { opType: 'Add', input: ['sr', 'one'], output: ['next_sr'] },
    ],
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/test/integration/declared-dtypes.test.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The inputs and outputs exactly as onnxruntime reports them (a symbolic dim is -1). */
const CONFIG = {
  name: 'scale',
  description: 'Test model: scales x by the int64 scalar sr when the bool scalar flag is set.',
  inputs: [
    { name: 'x', dtype: 'float32', shape: [-1, 3] },
    { name: 'sr', dtype: 'int64', shape: [] },
    { name: 'flag', dtype: 'bool', shape: [] },
  ],
  outputs: [
    { name: 'y', dtype: 'float32', shape: [-1, 3] },
    { name: 'next_sr', dtype: 'int64', shape: [] },
  ],
};

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
let repository: string;
let worker: Awaited<ReturnType<typeof startInProcessWorker>>;

beforeAll(async () => {
  repository = await mkdtemp(join(tmpdir(), 'conveyor-dtypes-'));
  await mkdir(join(repository, 'scale', '1'), { recursive: true });
  await writeFile(join(repository, 'scale', '1', 'model.onnx'), scaleModel());
  await writeFile(join(repository, 'scale', '1', 'model.json'), JSON.stringify(CONFIG));
  worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository });
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await dropPrefix(redisUrl, prefix);
  if (repository) await rm(repository, { recursive: true, force: true });
});

describe.each([
  ['queue', () => createClient({ redisUrl, prefix })],
  ['embedded', () => createEmbeddedClient({ repository })],
] as const)('plain values for int64 and bool inputs through the %s client', (_kind, open) => {
  let client: ConveyorClient;
  beforeAll(async () => {
    client = await open();
  }, 60_000);
  afterAll(async () => {
    await client?.close();
  });

  it('takes a bare number for the int64 scalar and a bare boolean for the bool scalar', async () => {
    const { outputs } = await client.predict('scale', { sr: 16000, flag: true, x: [[1, 2, 3]] });
    expect(outputs.y).toMatchObject({ dtype: 'float32', shape: [1, 3] });
    expect(toNumbers(outputs.y!)).toEqual([16000, 32000, 48000]);
    expect(outputs.next_sr).toEqual({
      dtype: 'int64',
      shape: [],
      data: new BigInt64Array([16001n]),
    });
  });

  it('takes 0 and 1 for the bool, and a bigint for the int64', async () => {
    const off = await client.predict('scale', {
      sr: 8000,
      flag: 0,
      x: [
        [1, 2, 3],
        [4, 5, 6],
      ],
    });
    expect(toNumbers(off.outputs.y!)).toEqual([1, 2, 3, 4, 5, 6]);
    const on = await client.predict('scale', { sr: 2n, flag: 1, x: [[1, 2, 3]] });
    expect(toNumbers(on.outputs.y!)).toEqual([2, 4, 6]);
    expect(on.outputs.next_sr?.data).toEqual(new BigInt64Array([3n]));
  });

  it('takes bare values for the scalars of a typed definition, and types the int64 output', async () => {
    const scale = defineModel({
      name: 'scale',
      inputs: { x: 'float32', sr: 'int64', flag: 'bool' },
      outputs: { y: 'float32', next_sr: 'int64' },
    });
    const { outputs } = await client.predict(scale, { sr: 3, flag: false, x: [[1, 2, 3]] });
    const next: BigInt64Array = outputs.next_sr.data;
    expect(next).toEqual(new BigInt64Array([4n]));
  });

  const x = [[1, 2, 3]];
  const refused: [string, Record<string, unknown>, ErrorCode][] = [
    ['a fraction for the int64 input', { sr: 16000.5, flag: true, x }, 'ERR_INPUT_DTYPE'],
    ['2 for the bool input', { sr: 16000, flag: 2, x }, 'ERR_INPUT_DTYPE'],
    [
      'an explicit float32 for the int64 input',
      { sr: { data: [16000], shape: [], dtype: 'float32' }, flag: true, x },
      'ERR_INPUT_DTYPE',
    ],
    [
      '[16000] of shape [1] for the input of shape []',
      { sr: [16000], flag: true, x },
      'ERR_INPUT_SHAPE',
    ],
    ['a bare value for the rank-2 input', { sr: 16000, flag: true, x: 5 }, 'ERR_VALIDATION'],
    // All scalars, but "sr" names an input: inputs by name, not a row of named features.
    ['only the scalar inputs', { sr: 16000, flag: true }, 'ERR_INPUT_MISSING'],
  ];
  it.each(refused)('refuses %s with its code', async (_name, inputs, code) => {
    await expect(client.predict('scale', inputs as never)).rejects.toMatchObject({
      name: 'ConveyorError',
      code,
    });
  });

  it('names the input and the element of a value its dtype cannot hold', async () => {
    await expect(
      client.predict('scale', { sr: 2 ** 31 + 0.5, flag: true, x: [[1, 2, 3]] }),
    ).rejects.toMatchObject({
      code: 'ERR_INPUT_DTYPE',
      details: { input: 'sr', index: 0, dtype: 'int64' },
    });
  });
});
