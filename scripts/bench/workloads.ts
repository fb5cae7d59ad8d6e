/** The workloads of the scenarios: one row of each model, and batches of that row. */
import { createTensor, type Tensor } from '@conveyor/shared';
import { textLine } from '../lib/text-line.js';

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
