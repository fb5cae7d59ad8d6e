import type { Outputs } from '@conveyor/sdk';
import type { Tensor } from '@conveyor/shared';
import { nested } from '../format.js';

/** Whether a tensor's elements are plain numbers (a typed array of neither int64 kind). */
const isPlain = (data: Tensor['data']): boolean =>
  ArrayBuffer.isView(data) && !(data instanceof BigInt64Array) && !(data instanceof BigUint64Array);

const json = (value: number): string => (Number.isFinite(value) ? String(value) : 'null');

/** `data[offset...]` nested by `shape`, as JSON.stringify writes the nested arrays of numbers. */
function numbers(
  data: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
  at: number,
): string {
  const dim = shape[axis] ?? 0;
  if (axis === shape.length - 1) {
    let text = '[';
    for (let i = 0; i < dim; i += 1) text += (i === 0 ? '' : ',') + json(data[at + i] as number);
    return `${text}]`;
  }
  let stride = 1;
  for (let a = axis + 1; a < shape.length; a += 1) stride *= shape[a] ?? 0;
  const parts: string[] = [];
  for (let i = 0; i < dim; i += 1) parts.push(numbers(data, shape, axis + 1, at + i * stride));
  return `[${parts.join(',')}]`;
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
 * The result lines of a block of rows that ran as one: for row `i`, `{"line": lines[i],
 * "outputs": {name: nested}}` and a newline, each output being that row's `[1, ...]` slice, so
 * the line is the one the row would get alone. Undefined when an output does not have one entry
 * per row along its first dimension.
 */
export function blockLines(lines: readonly number[], outputs: Outputs): string | undefined {
  const rows = lines.length;
  const entries = Object.entries(outputs);
  if (entries.some(([, t]) => t.shape.length === 0 || t.shape[0] !== rows)) return undefined;
  const columns = entries.map(([name, tensor]) => ({
    key: `${JSON.stringify(name)}:`,
    tensor,
    perRow: rows === 0 ? 0 : tensor.data.length / rows,
    shape: [1, ...tensor.shape.slice(1)],
    plain: isPlain(tensor.data),
  }));
  let text = '';
  for (let i = 0; i < rows; i += 1) {
    let parts = '';
    for (const { key, tensor, perRow, shape, plain } of columns) {
      const value = plain
        ? numbers(tensor.data as ArrayLike<number>, shape, 0, i * perRow)
        : JSON.stringify(nested(rowTensor(tensor, i, perRow)));
      parts += (parts === '' ? '' : ',') + key + value;
    }
    text += `{"line":${lines[i]},"outputs":{${parts}}}\n`;
  }
  return text;
}

/** The result line of one row that ran alone: its outputs whole. */
export function rowLine(line: number, outputs: Outputs): string {
  const nestedOutputs: Record<string, unknown> = {};
  for (const [name, tensor] of Object.entries(outputs)) nestedOutputs[name] = nested(tensor);
  return `${JSON.stringify({ line, outputs: nestedOutputs })}\n`;
}
