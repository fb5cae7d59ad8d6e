import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import type { Dtype } from '@conveyor/shared';
import type { OipDatatype } from '../src/oip/schemas.js';
import { MODELS } from './support.js';

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;

/**
 * Every OIP datatype Conveyor carries into onnxruntime, with its dtype and ONNX element type
 * (`bytes` never reaches onnxruntime: it feeds a preprocess step).
 */
export const CARRIED: readonly {
  datatype: OipDatatype;
  dtype: Exclude<Dtype, 'bytes'>;
  onnx: number;
}[] = [
  { datatype: 'BOOL', dtype: 'bool', onnx: T.BOOL },
  { datatype: 'UINT8', dtype: 'uint8', onnx: T.UINT8 },
  { datatype: 'UINT16', dtype: 'uint16', onnx: T.UINT16 },
  { datatype: 'UINT32', dtype: 'uint32', onnx: T.UINT32 },
  { datatype: 'UINT64', dtype: 'uint64', onnx: T.UINT64 },
  { datatype: 'INT8', dtype: 'int8', onnx: T.INT8 },
  { datatype: 'INT16', dtype: 'int16', onnx: T.INT16 },
  { datatype: 'INT32', dtype: 'int32', onnx: T.INT32 },
  { datatype: 'INT64', dtype: 'int64', onnx: T.INT64 },
  { datatype: 'FP16', dtype: 'float16', onnx: T.FLOAT16 },
  { datatype: 'FP32', dtype: 'float32', onnx: T.FLOAT },
  { datatype: 'FP64', dtype: 'float64', onnx: T.DOUBLE },
  { datatype: 'BYTES', dtype: 'string', onnx: T.STRING },
];

/** The input and output names of the echo model for a datatype. */
export const inputName = (datatype: OipDatatype) => `in_${datatype.toLowerCase()}`;
export const outputName = (datatype: OipDatatype) => `out_${datatype.toLowerCase()}`;

/** Rows of the echo model's tensors: every tensor is [-1, WIDTH]. */
export const WIDTH = 3;

function valueInfo(name: string, elemType: number): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: { elemType, shape: { dim: [{ dimParam: 'batch' }, { dimValue: WIDTH }] } },
    },
  };
}

/** An ONNX model with one Identity per carried datatype: `in_<type>` comes back as `out_<type>`. */
function echoModel(): Uint8Array {
  const graph: Onnx.IGraphProto = {
    name: 'echo',
    input: CARRIED.map((c) => valueInfo(inputName(c.datatype), c.onnx)),
    output: CARRIED.map((c) => valueInfo(outputName(c.datatype), c.onnx)),
    node: CARRIED.map((c) => ({
      opType: 'Identity',
      input: [inputName(c.datatype)],
      output: [outputName(c.datatype)],
      name: `identity_${c.datatype.toLowerCase()}`,
    })),
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/apps/producer/test/dtype-models.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

const echoConfig = {
  name: 'echo',
  description: 'Test model: returns each input unchanged, one per datatype.',
  inputs: CARRIED.map((c) => ({ name: inputName(c.datatype), dtype: c.dtype, shape: [-1, WIDTH] })),
  outputs: CARRIED.map((c) => ({
    name: outputName(c.datatype),
    dtype: c.dtype,
    shape: [-1, WIDTH],
  })),
};

/** A temporary model repository holding `echo/1` and a copy of the shipped `iris/1`. */
export async function createTestRepository(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'conveyor-producer-'));
  const echo = join(path, 'echo', '1');
  const iris = join(path, 'iris', '1');
  await mkdir(echo, { recursive: true });
  await mkdir(iris, { recursive: true });
  await writeFile(join(echo, 'model.onnx'), echoModel());
  await writeFile(join(echo, 'model.json'), JSON.stringify(echoConfig));
  for (const file of ['model.onnx', 'model.json'])
    await copyFile(join(MODELS, 'iris', '1', file), join(iris, file));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
