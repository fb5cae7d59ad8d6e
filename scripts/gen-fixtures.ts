/**
 * Writes the generated models of the repository: `models/iris/1` (standardisation, a dense layer
 * and softmax over a dynamic batch) and `models/sentiment/1` (a bag-of-words text classifier and
 * its tokenizer.json). Deterministic: CI reruns it and fails on `git diff`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import {
  IRIS_BIAS,
  IRIS_FEATURES,
  IRIS_LABELS,
  IRIS_MEAN,
  IRIS_STD,
  IRIS_WEIGHTS,
} from './lib/iris-weights.js';
import { valueInfo } from './lib/onnx-graph.js';
import { sentimentConfig, sentimentModel, sentimentTokenizer } from './lib/sentiment-model.js';

// onnx-proto is CommonJS: its namespace is a property of the default export at run time.
const { onnx } = onnxProto;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FLOAT = onnx.TensorProto.DataType.FLOAT;

function constant(name: string, dims: number[], values: readonly number[]): Onnx.ITensorProto {
  return { name, dims, dataType: FLOAT, floatData: [...values] };
}

function irisModel(): Uint8Array {
  const n = IRIS_FEATURES.length;
  const k = IRIS_LABELS.length;
  const graph: Onnx.IGraphProto = {
    name: 'iris',
    input: [valueInfo('features', ['batch', n])],
    output: [valueInfo('probabilities', ['batch', k])],
    initializer: [
      constant('mean', [n], IRIS_MEAN),
      constant('std', [n], IRIS_STD),
      constant('weights', [n, k], IRIS_WEIGHTS.flat()),
      constant('bias', [k], IRIS_BIAS),
    ],
    node: [
      { opType: 'Sub', input: ['features', 'mean'], output: ['centred'], name: 'centre' },
      { opType: 'Div', input: ['centred', 'std'], output: ['scaled'], name: 'scale' },
      { opType: 'MatMul', input: ['scaled', 'weights'], output: ['product'], name: 'dense' },
      { opType: 'Add', input: ['product', 'bias'], output: ['logits'], name: 'bias' },
      {
        opType: 'Softmax',
        input: ['logits'],
        output: ['probabilities'],
        name: 'softmax',
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
      },
    ],
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/scripts/gen-fixtures.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

const irisConfig = {
  name: 'iris',
  description:
    'Generated tabular classifier: standardisation, a dense layer and softmax over the four iris measurements (cm).',
  inputs: [
    {
      name: 'features',
      dtype: 'float32',
      shape: [-1, IRIS_FEATURES.length],
      labels: [...IRIS_FEATURES],
      description:
        'One row per flower: sepal length, sepal width, petal length, petal width, in cm.',
    },
  ],
  outputs: [
    {
      name: 'probabilities',
      dtype: 'float32',
      shape: [-1, IRIS_LABELS.length],
      labels: [...IRIS_LABELS],
      description: 'Class probabilities per row; they sum to 1.',
    },
  ],
};

const dir = join(root, 'models', 'iris', '1');
await mkdir(dir, { recursive: true });
await writeFile(join(dir, 'model.onnx'), irisModel());
await writeFile(join(dir, 'model.json'), `${JSON.stringify(irisConfig, null, 2)}\n`);
process.stdout.write(`wrote ${join('models', 'iris', '1')}\n`);

const sentimentDir = join(root, 'models', 'sentiment', '1');
await mkdir(sentimentDir, { recursive: true });
await writeFile(join(sentimentDir, 'model.onnx'), sentimentModel());
await writeFile(join(sentimentDir, 'model.json'), `${JSON.stringify(sentimentConfig, null, 2)}\n`);
await writeFile(
  join(sentimentDir, 'tokenizer.json'),
  `${JSON.stringify(sentimentTokenizer(), null, 2)}\n`,
);
process.stdout.write(`wrote ${join('models', 'sentiment', '1')}\n`);
