/** The workloads of the scenarios: one row of each model, and batches of that row. */
import { join } from 'node:path';
import { DEFAULTS, createTensor, type Tensor } from '@conveyor/shared';
import { textLine } from '../lib/text-line.js';
import { ROOT } from '../lib/worker-process.js';

/** The tabular model and the image model, one row each. */
export const WORKLOADS = {
  iris: {
    file: 'iris',
    input: 'features',
    output: 'probabilities',
    row: Float32Array.of(5.9, 3.0, 5.1, 1.8),
    rowShape: [4],
  },
  'text-direction': {
    file: 'text-direction',
    input: 'x',
    output: 'softmax_0.tmp_0',
    row: textLine('CONVEYOR'),
    rowShape: [3, 48, 192],
  },
} as const;

export type Workload = keyof typeof WORKLOADS;

export const WORKLOAD_NAMES = Object.keys(WORKLOADS) as Workload[];

/** `rows` copies of the workload's row as one tensor. */
export function batchOf(workload: Workload, rows: number): Tensor {
  const { row, rowShape } = WORKLOADS[workload];
  const data = new Float32Array(row.length * rows);
  for (let i = 0; i < rows; i++) data.set(row, i * row.length);
  return createTensor('float32', [rows, ...rowShape], data);
}

/** The inputs of a one-row job of the workload. */
export function oneRowInputs(workload: Workload): Record<string, Tensor> {
  return { [WORKLOADS[workload].input]: batchOf(workload, 1) };
}

/** The workload's model file in the repository's model folder (version 1). */
export const modelPathOf = (workload: Workload): string =>
  join(ROOT, 'models', WORKLOADS[workload].file, '1', 'model.onnx');

/**
 * The environment of a bench process that runs the workload's model with no Conveyor code (the
 * plain pipeline's worker, the inference loop): its file, its row's shape, and a Conveyor worker's
 * priority (WORKER_NICE's default).
 */
export const modelProcessEnv = (workload: Workload): Record<string, string> => ({
  MODEL_PATH: modelPathOf(workload),
  ROW_SHAPE: WORKLOADS[workload].rowShape.join(','),
  NICE: String(DEFAULTS.workerNice),
});
