import { ConveyorError } from '../errors.js';
import { arrayMatchesDtype, bytesPerElement, type Dtype, type DtypeArrays } from './dtype.js';

/**
 * A dense, row-major tensor: its dtype, its shape and the array that holds its elements (a typed
 * array, or an array of strings for `string`).
 */
export interface Tensor<D extends Dtype = Dtype> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DtypeArrays[D];
}

/** 64 MiB: the default ceiling on one tensor's bytes, checked before anything is allocated. */
export const DEFAULT_MAX_TENSOR_BYTES = 64 * 1024 * 1024;

/** A tensor may have at most this many dimensions. */
export const MAX_RANK = 16;

/**
 * The number of elements of a shape, refusing shapes that are not lists of non-negative
 * integers or whose byte size would pass `maxBytes`; so a hostile shape never allocates.
 */
export function checkedByteLength(
  dtype: Dtype,
  shape: readonly number[],
  maxBytes: number,
  where = 'tensor',
): { elements: number; bytes: number } {
  if (shape.length > MAX_RANK) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: rank ${shape.length} is over ${MAX_RANK}`,
      {
        details: { rank: shape.length },
      },
    );
  }
  let elements = 1;
  for (const [axis, dim] of shape.entries()) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: dimension ${axis} is ${String(dim)}; dimensions are non-negative integers`,
        { details: { shape: [...shape] } },
      );
    }
    elements *= dim;
    if (elements * bytesPerElement(dtype) > maxBytes) {
      throw new ConveyorError(
        'ERR_TENSOR_TOO_LARGE',
        `${where}: shape [${shape.join(', ')}] of ${dtype} is over the limit of ${maxBytes} bytes`,
        { details: { shape: [...shape], dtype, maxBytes } },
      );
    }
  }
  return { elements, bytes: elements * bytesPerElement(dtype) };
}

/** Builds a tensor, checking that the data's length matches the shape. */
export function createTensor<D extends Dtype>(
  dtype: D,
  shape: readonly number[],
  data: DtypeArrays[D],
  maxBytes: number = DEFAULT_MAX_TENSOR_BYTES,
  where = 'tensor',
): Tensor<D> {
  const { elements } = checkedByteLength(dtype, shape, maxBytes, where);
  if (!arrayMatchesDtype(data, dtype)) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: data is not the storage array of ${dtype}`,
      {
        details: { dtype },
      },
    );
  }
  if (data.length !== elements) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: shape [${shape.join(', ')}] holds ${elements} elements but data has ${data.length}`,
      { details: { shape: [...shape], length: data.length } },
    );
  }
  return Object.freeze({ dtype, shape: Object.freeze([...shape]), data });
}

/**
 * Reads element i of a tensor as a number (bigints are converted; float16 stays as its raw bits;
 * a string element is NaN).
 */
export function elementAt(tensor: Tensor, index: number): number {
  const value = tensor.data[index];
  return typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : Number.NaN;
}

/** The tensor's elements as a plain number array, for printing and tests (strings become NaN). */
export function toNumbers(tensor: Tensor): number[] {
  return Array.from(tensor.data as ArrayLike<number | bigint | string>, (v) =>
    typeof v === 'string' ? Number.NaN : Number(v),
  );
}

/** Splits a tensor's rows (the first dimension) into nested number arrays, for display. */
export function toRows(tensor: Tensor): number[][] {
  const values = toNumbers(tensor);
  const rows = tensor.shape[0] ?? 1;
  const width = rows === 0 ? 0 : values.length / rows;
  return Array.from({ length: rows }, (_, r) => values.slice(r * width, (r + 1) * width));
}
