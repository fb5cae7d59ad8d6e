import type { Outputs } from '@conveyor/sdk';
import type { Tensor } from '@conveyor/shared';
import { nested } from '../format.js';

/** Whether a tensor's elements are plain numbers (a typed array of neither int64 kind). */
const isPlain = (data: Tensor['data']): boolean =>
  ArrayBuffer.isView(data) && !(data instanceof BigInt64Array) && !(data instanceof BigUint64Array);

/**
 * `data[at...]` nested by `shape` as plain arrays, which JSON.stringify writes as it writes
 * nested(). JSON.stringify writes numbers straight into its text; String(number) would instead go
 * through V8's number-to-string cache, which keeps each string alive past a few scavenges, so
 * every value of a million-row run reached the old generation.
 */
function numbers(
  data: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
  at: number,
): unknown[] {
  const dim = shape[axis] ?? 0;
  const out = new Array<unknown>(dim);
  if (axis === shape.length - 1) {
    for (let i = 0; i < dim; i += 1) out[i] = data[at + i];
    return out;
  }
  let stride = 1;
  for (let a = axis + 1; a < shape.length; a += 1) stride *= shape[a] ?? 0;
  for (let i = 0; i < dim; i += 1) out[i] = numbers(data, shape, axis + 1, at + i * stride);
  return out;
}

/** Row `row` of a tensor whose first dimension has one entry per row, as its own `[1, ...]` tensor. */
function rowTensor(tensor: Tensor, row: number, perRow: number): Tensor {
  const from = row * perRow;
  const data = tensor.data as { slice(a: number, b: number): Tensor['data'] };
  return {
    dtype: tensor.dtype,
    shape: [1, ...tensor.shape.slice(1)],
    data: data.slice(from, from + perRow),
  };
}

/**
 * Writes the result lines of a block of rows that ran as one, each through `add` as soon as it is
 * made (so no text of a whole pack is held): for row `i`, `{"line": lines[i], "outputs": {name:
 * nested}}` and a newline, each output being that row's `[1, ...]` slice, so the line is the one
 * the row would get alone. False, with nothing written, when an output does not have one entry per
 * row along its first dimension.
 */
export function blockLines(
  lines: readonly number[],
  outputs: Outputs,
  add: (line: string) => void,
): boolean {
  const rows = lines.length;
  const entries = Object.entries(outputs);
  if (entries.some(([, t]) => t.shape.length === 0 || t.shape[0] !== rows)) return false;
  const columns = entries.map(([name, tensor]) => ({
    name,
    tensor,
    perRow: rows === 0 ? 0 : tensor.data.length / rows,
    shape: [1, ...tensor.shape.slice(1)],
    plain: isPlain(tensor.data),
  }));
  for (let i = 0; i < rows; i += 1) {
    const own: Record<string, unknown> = {};
    for (const { name, tensor, perRow, shape, plain } of columns) {
      own[name] = plain
        ? numbers(tensor.data as ArrayLike<number>, shape, 0, i * perRow)
        : nested(rowTensor(tensor, i, perRow));
    }
    add(`${JSON.stringify({ line: lines[i], outputs: own })}\n`);
  }
  return true;
}

/** The result line of one row that ran alone: its outputs whole. */
export function rowLine(line: number, outputs: Outputs): string {
  const nestedOutputs: Record<string, unknown> = {};
  for (const [name, tensor] of Object.entries(outputs)) nestedOutputs[name] = nested(tensor);
  return `${JSON.stringify({ line, outputs: nestedOutputs })}\n`;
}
