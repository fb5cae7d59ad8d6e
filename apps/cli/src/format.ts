import type { ModelSignature, Tensor, TensorSpec } from '@conveyor/shared';

/** A JSON-safe nested array of a tensor's elements (int64 beyond 2^53 as strings). */
export type JsonNested = number | string | JsonNested[];

type Element = number | bigint | string | Uint8Array;

/** One element as JSON carries it: bytes elements as base64. */
function element(value: Element): number | string {
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

/** The tensor's elements nested by its shape, as JSON can carry them. */
export function nested(tensor: Tensor): JsonNested {
  const flat = Array.from(tensor.data as ArrayLike<Element>, element);
  const { shape } = tensor;
  if (shape.length === 0) return flat[0] ?? 0;
  // strides[axis]: elements between two neighbours along that axis (row-major).
  const strides = shape.map((_, axis) => shape.slice(axis + 1).reduce((a, b) => a * b, 1));
  const build = (axis: number, offset: number): JsonNested[] => {
    const dim = shape[axis] ?? 0;
    if (axis === shape.length - 1) return flat.slice(offset, offset + dim);
    const stride = strides[axis] ?? 1;
    return Array.from({ length: dim }, (_, i) => build(axis + 1, offset + i * stride));
  };
  return build(0, 0);
}

/** Fixed-width columns: the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `float32 [-1, 4]` */
export function describeSpec(spec: Pick<TensorSpec, 'dtype' | 'shape'>): string {
  return `${spec.dtype} [${spec.shape.join(', ')}]`;
}

const show = (value: Element): string =>
  typeof value === 'string'
    ? JSON.stringify(value)
    : value instanceof Uint8Array
      ? `<${value.byteLength} bytes>`
      : typeof value === 'bigint'
        ? value.toString()
        : Number.isInteger(value)
          ? String(value)
          : value.toPrecision(6);

/**
 * A readable table of one output: one line per row of the first dimension, one column per entry
 * of the last (named by the signature's labels when it has them).
 */
export function outputTable(name: string, tensor: Tensor, spec: TensorSpec | undefined): string {
  const values = Array.from(tensor.data as ArrayLike<Element>);
  const header = `${name}: ${tensor.dtype} [${tensor.shape.join(', ')}]`;
  if (tensor.shape.length === 2) {
    const [rows = 0, cols = 0] = tensor.shape;
    const labels = spec?.labels?.length === cols ? spec.labels : undefined;
    // The label of each row's largest value; text and bytes have no largest value.
    const top = labels !== undefined && tensor.dtype !== 'string' && tensor.dtype !== 'bytes';
    const head = ['row', ...(labels ?? Array.from({ length: cols }, (_, i) => String(i)))];
    if (top) head.push('top');
    const body = Array.from({ length: rows }, (_, r) => {
      const row = values.slice(r * cols, (r + 1) * cols);
      const cells = [String(r), ...row.map(show)];
      if (top) {
        let best = 0;
        row.forEach((v, i) => {
          if (Number(v) > Number(row[best])) best = i;
        });
        cells.push(labels[best] ?? '');
      }
      return cells;
    });
    return `${header}\n${table([head, ...body])}`;
  }
  const shown = values.slice(0, 20).map(show).join(', ');
  return `${header}\n${shown}${values.length > 20 ? `, … (${values.length} values)` : ''}`;
}

/** The output spec of a signature by name. */
export function outputSpec(
  signature: ModelSignature | undefined,
  name: string,
): TensorSpec | undefined {
  return signature?.outputs.find((s) => s.name === name);
}
