import { cp, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { valueInfo } from '../../../../scripts/lib/onnx-graph.js';

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

/** The committed model repository. */
export const MODELS = new URL('../../../../models', import.meta.url).pathname;

/** A fresh temporary folder. */
export const tempRoot = (prefix: string): Promise<string> =>
  mkdtemp(join(tmpdir(), `conveyor-${prefix}-`));

/** Copies a committed model's file alone (no model.json) into `<root>/<name>/<version>/model.onnx`. */
export async function bareCopy(root: string, model: string, name = model, version = '1') {
  await mkdir(join(root, name, version), { recursive: true });
  await cp(join(MODELS, model, '1', 'model.onnx'), join(root, name, version, 'model.onnx'));
}

function encode(graph: Onnx.IGraphProto): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * `pad`: x [batch, samples] padded by 2 on each side of the samples axis in reflect mode, as audio
 * front ends do. onnxruntime refuses fewer than 3 samples ("Pad reflect requires axis length >=
 * 2").
 */
export function padReflectModel(): Uint8Array {
  return encode({
    name: 'pad',
    input: [valueInfo('x', ['batch', 'samples'])],
    output: [valueInfo('y', ['batch', 'padded'])],
    initializer: [{ name: 'pads', dims: [4], dataType: INT64, int64Data: [0, 2, 0, 2] }],
    node: [
      {
        opType: 'Pad',
        input: ['x', 'pads'],
        output: ['y'],
        name: 'pad',
        attribute: [
          {
            name: 'mode',
            type: onnx.AttributeProto.AttributeType.STRING,
            s: new TextEncoder().encode('reflect'),
          },
        ],
      },
    ],
  });
}

/** `add`: y = x + w for x [batch, 4], with the four weights of w read from the file `location`. */
export function externalDataModel(location: string): Uint8Array {
  return encode({
    name: 'add',
    input: [valueInfo('x', ['batch', 4])],
    output: [valueInfo('y', ['batch', 4])],
    initializer: [
      {
        name: 'w',
        dims: [4],
        dataType: FLOAT,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: '0' },
          { key: 'length', value: '16' },
        ],
      },
    ],
    node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }],
  });
}

/** The bytes of the weights externalDataModel reads: 1, 2, 3, 4 as float32. */
export const EXTERNAL_WEIGHTS = new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer);

/**
 * `branch`: an If node whose then-branch holds a constant tensor with external data: the check
 * has to look inside subgraphs of node attributes, not only the main graph's initializers.
 */
export function nestedExternalDataModel(location: string): Uint8Array {
  const constant: Onnx.INodeProto = {
    opType: 'Constant',
    output: ['w'],
    name: 'w',
    attribute: [
      {
        name: 'value',
        type: onnx.AttributeProto.AttributeType.TENSOR,
        t: {
          name: 'w',
          dims: [4],
          dataType: FLOAT,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [{ key: 'location', value: location }],
        },
      },
    ],
  };
  return encode({
    name: 'branch',
    input: [valueInfo('x', [4])],
    output: [valueInfo('y', [4])],
    initializer: [
      { name: 'cond', dims: [], dataType: onnx.TensorProto.DataType.BOOL, int32Data: [1] },
    ],
    node: [
      {
        opType: 'If',
        input: ['cond'],
        output: ['y'],
        name: 'if',
        attribute: [
          {
            name: 'then_branch',
            type: onnx.AttributeProto.AttributeType.GRAPH,
            g: { name: 'then', node: [constant], output: [valueInfo('w', [4])] },
          },
          {
            name: 'else_branch',
            type: onnx.AttributeProto.AttributeType.GRAPH,
            g: {
              name: 'else',
              node: [{ opType: 'Identity', input: ['x'], output: ['z'], name: 'id' }],
              output: [valueInfo('z', [4])],
            },
          },
        ],
      },
    ],
  });
}
