/**
 * @file Tensor rows for the batcher: which requests may share a call, and joining and splitting
 * tensors along their first (batch) dimension.
 */
import {
  DTYPE_ARRAYS,
  createTensor,
  type NumericDtype,
  type Tensor,
  type TensorData,
  type TypedArray,
} from '@conveyor/shared';

interface TypedArrayCtor {
  new (length: number): TypedArray;
  new (buffer: ArrayBuffer, offset: number, length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

/** The array type of a tensor whose data is a typed array. */
const arrayOf = (tensor: Tensor): TypedArrayCtor => DTYPE_ARRAYS[tensor.dtype as NumericDtype];

/** Rows of a tensor: its first dimension (1 for a scalar). */
export const rowsOf = (tensor: Tensor): number => tensor.shape[0] ?? 1;

/**
 * Requests can share a call when they ask for the same outputs and their inputs agree on
 * everything but the first dimension.
 */
export function groupKey(inputs: Record<string, Tensor>, outputs: readonly string[]): string {
  const names = Object.keys(inputs);
  if (names.length > 1) names.sort();
  // Built in one string: a sort, a map and two joins per request showed in a tiny model's profile.
  let key = outputs.join(',');
  for (const name of names) {
    const { dtype, shape } = inputs[name] as Tensor;
    key += `|${name}:${dtype}:`;
    for (let axis = 1; axis < shape.length; axis++)
      key += axis === 1 ? shape[axis] : `x${shape[axis]}`;
  }
  return key;
}

/**
 * Joins tensors of one dtype and row shape along the first dimension, into a buffer of `alloc`
 * (of at least the bytes asked; the tensor views its start) when given one, else a new one.
 */
export function concatRows(
  tensors: readonly Tensor[],
  alloc?: (bytes: number) => ArrayBuffer,
): Tensor {
  const first = tensors[0] as Tensor;
  const total = tensors.reduce((n, t) => n + rowsOf(t), 0);
  const length = tensors.reduce((n, t) => n + t.data.length, 0);
  let data: TensorData;
  if (first.dtype === 'string') {
    data = tensors.flatMap((t) => t.data as string[]);
  } else if (first.dtype === 'bytes') {
    data = tensors.flatMap((t) => t.data as Uint8Array[]);
  } else {
    const Ctor = DTYPE_ARRAYS[first.dtype] as unknown as TypedArrayCtor;
    data = alloc ? new Ctor(alloc(length * Ctor.BYTES_PER_ELEMENT), 0, length) : new Ctor(length);
    let offset = 0;
    for (const t of tensors) {
      // Every tensor of a group has the dtype of the first, so the arrays are of one kind.
      (data as unknown as { set(src: TypedArray, at: number): void }).set(
        t.data as TypedArray,
        offset,
      );
      offset += t.data.length;
    }
  }
  return createTensor(
    first.dtype,
    [total, ...first.shape.slice(1)],
    data,
    Number.POSITIVE_INFINITY,
    'batch',
  );
}

/**
 * Rows [from, from + rows) of a tensor whose first dimension is the batch: a copy, into a buffer
 * of `alloc` (of at least the bytes asked; the tensor views its start) when given one.
 */
export function sliceRows(
  tensor: Tensor,
  from: number,
  rows: number,
  alloc?: (bytes: number) => ArrayBuffer,
): Tensor {
  const total = rowsOf(tensor);
  const perRow = total === 0 ? 0 : tensor.data.length / total;
  const [start, end] = [from * perRow, (from + rows) * perRow];
  let data: TensorData;
  if (alloc && !Array.isArray(tensor.data)) {
    const Ctor = arrayOf(tensor);
    const length = end - start;
    const copy = new Ctor(alloc(length * Ctor.BYTES_PER_ELEMENT), 0, length);
    (copy as unknown as { set(src: TypedArray): void }).set(tensor.data.subarray(start, end));
    data = copy;
  } else data = tensor.data.slice(start, end);
  return createTensor(
    tensor.dtype,
    [rows, ...tensor.shape.slice(1)],
    data,
    Number.POSITIVE_INFINITY,
    'batch slice',
  );
}

/**
 * Rows [from, from + rows) of a tensor without copying numbers: a view on the same buffer (string
 * and bytes rows are a shallow copy of their array). For a call on this thread, never to transfer.
 */
export function viewRows(tensor: Tensor, from: number, rows: number): Tensor {
  const total = rowsOf(tensor);
  const perRow = total === 0 ? 0 : tensor.data.length / total;
  const start = from * perRow;
  const end = start + rows * perRow;
  const data: TensorData = Array.isArray(tensor.data)
    ? tensor.data.slice(start, end)
    : tensor.data.subarray(start, end);
  const shape = tensor.shape.slice();
  shape[0] = rows;
  return createTensor(tensor.dtype, shape, data, Number.POSITIVE_INFINITY, 'batch chunk');
}
