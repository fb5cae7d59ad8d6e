import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { MODELS } from './workers.js';

const { onnx } = onnxProto;

/** y = x, float32 [-1, 1]: a "regression" whose prediction is its input. */
function identityRegression(): Uint8Array {
  const info = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: 'batch' }, { dimValue: 1 }] },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/test/support/feedback-repository.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'reg',
      input: [info('x')],
      output: [info('y')],
      node: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * A model repository for feedback tests: `iris` (the repository's, its model.json asking for every
 * prediction to be logged) and `reg` (y = x, nothing logged unless PREDICTION_LOG_SAMPLE says so).
 */
export async function feedbackRepository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'conveyor-feedback-'));
  await mkdir(join(root, 'iris', '1'), { recursive: true });
  await copyFile(join(MODELS, 'iris', '1', 'model.onnx'), join(root, 'iris', '1', 'model.onnx'));
  const config = JSON.parse(
    await readFile(join(MODELS, 'iris', '1', 'model.json'), 'utf8'),
  ) as Record<string, unknown>;
  await writeFile(
    join(root, 'iris', '1', 'model.json'),
    JSON.stringify({ ...config, log: { sample: 1 } }),
  );
  await mkdir(join(root, 'reg', '1'), { recursive: true });
  await writeFile(join(root, 'reg', '1', 'model.onnx'), identityRegression());
  await writeFile(join(root, 'reg', '1', 'model.json'), JSON.stringify({ batching: false }));
  return root;
}
