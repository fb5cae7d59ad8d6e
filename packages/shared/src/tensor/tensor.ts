import { ConveyorError } from '../errors.js';
import { arrayMatchesDtype, bytesPerElement, type Dtype, type DtypeArrays } from './dtype.js';

/**
 * A dense, row-major tensor: its dtype, its shape and the array that holds its elements (a typed
 * array, an array of strings for `string`, an array of Uint8Array for `bytes`).
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
  // An indexed loop: entries() made an iterator and a pair per axis, on every tensor of every job.
  for (let axis = 0; axis < shape.length; axis++) {
    const dim = shape[axis] as number;
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

/** A bytes tensor's elements with their 4-byte length prefixes must fit in `maxBytes`. */
function checkBytesTotal(data: readonly Uint8Array[], maxBytes: number, where: string): void {
  let total = 0;
  for (const element of data) total += 4 + element.byteLength;
  if (total > maxBytes) {
    throw new ConveyorError(
      'ERR_TENSOR_TOO_LARGE',
      `${where}: ${total} bytes of bytes elements are over the limit of ${maxBytes} bytes`,
      { details: { bytes: total, maxBytes } },
    );
  }
}

/**
 * A tensor createTensor returned: checked and frozen, so another boundary need not check it. Its
 * private brand cannot be forged (`#checked in value`), as a WeakSet's membership could not, and
 * costs no more than a plain object: a WeakSet cost about 0.6 µs per tensor, in its add and in
 * every garbage collection's ephemeron pass, on every tensor of every job. Its own keys are
 * `dtype`, `shape` and `data`, in that order, as a plain tensor's.
 */
class CheckedTensor<D extends Dtype> implements Tensor<D> {
  readonly #checked = true;

  constructor(
    readonly dtype: D,
    readonly shape: readonly number[],
    readonly data: DtypeArrays[D],
  ) {
    Object.freeze(this);
  }

  static is(value: object): value is CheckedTensor<Dtype> {
    return #checked in value;
  }
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
  if (dtype === 'bytes') checkBytesTotal(data as Uint8Array[], maxBytes, where);
  if (data.length !== elements) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: shape [${shape.join(', ')}] holds ${elements} elements but data has ${data.length}`,
      { details: { shape: [...shape], length: data.length } },
    );
  }
  return new CheckedTensor(dtype, Object.freeze([...shape]), data);
}

/**
 * Whether `value` is a numeric tensor createTensor made (its dtype, shape and length agree): a
 * tensor the producer decoded reaches the SDK's predict as such, and is not checked again there.
 * bool (whose bytes createTensor does not check) and string and bytes tensors are not.
 */
export function isCheckedTensor(value: unknown): value is Tensor {
  if (typeof value !== 'object' || value === null || !CheckedTensor.is(value)) return false;
  const { dtype } = value as Tensor;
  return dtype !== 'bool' && dtype !== 'string' && dtype !== 'bytes';
}

/**
 * Reads element i of a tensor as a number (bigints are converted; float16 stays as its raw bits;
 * a string or bytes element is NaN).
 */
export function elementAt(tensor: Tensor, index: number): number {
  const value = tensor.data[index];
  return typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : Number.NaN;
}

/**
 * The tensor's elements as a plain number array, for printing and tests (string and bytes
 * elements become NaN).
 */
export function toNumbers(tensor: Tensor): number[] {
  return Array.from(tensor.data as ArrayLike<unknown>, (v) =>
    typeof v === 'number' || typeof v === 'bigint' ? Number(v) : Number.NaN,
  );
}

/** Splits a tensor's rows (the first dimension) into nested number arrays, for display. */
export function toRows(tensor: Tensor): number[][] {
  const values = toNumbers(tensor);
  const rows = tensor.shape[0] ?? 1;
  const width = rows === 0 ? 0 : values.length / rows;
  return Array.from({ length: rows }, (_, r) => values.slice(r * width, (r + 1) * width));
}
