/** Element types a Conveyor tensor can hold, named as onnxruntime names them. */
export const DTYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
  'bytes',
] as const;

export type Dtype = (typeof DTYPES)[number];

/** The dtypes whose elements vary in length: `string` (UTF-8 text) and `bytes` (raw binary). */
export type VariableDtype = 'string' | 'bytes';

/** Every dtype but `string` and `bytes`: those held in typed arrays. */
export type NumericDtype = Exclude<Dtype, VariableDtype>;

/** Whether a dtype is `string` (OIP `BYTES`): UTF-8 text elements, held in a plain array. */
export function isStringDtype(dtype: Dtype): dtype is 'string' {
  return dtype === 'string';
}

/**
 * Whether a dtype's elements vary in length (`string`, `bytes`): held in a plain array, and on
 * the wire each a 4-byte little-endian byte count then its bytes. onnxruntime takes `string`
 * only; a `bytes` input (an image, a file) feeds a preprocessing step.
 */
export function isVariableDtype(dtype: Dtype): dtype is VariableDtype {
  return dtype === 'string' || dtype === 'bytes';
}

/**
 * The array that holds each dtype: a typed array, except `string`, a plain array of strings, and
 * `bytes`, a plain array of byte arrays (one per element). float16 is kept as its raw bits; bool
 * as 0/1 bytes.
 */
export interface DtypeArrays {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
  string: string[];
  bytes: Uint8Array[];
}

/** The typed arrays: the storage of every numeric dtype. */
export type TypedArray = DtypeArrays[NumericDtype];

/** The storage of any tensor: a typed array, an array of strings or an array of byte arrays. */
export type TensorData = DtypeArrays[Dtype];

interface TypedArrayConstructorOf<T> {
  new (length: number): T;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

export const DTYPE_ARRAYS: {
  readonly [D in NumericDtype]: TypedArrayConstructorOf<DtypeArrays[D]>;
} = Object.freeze({
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
});

/**
 * Bytes per element; for `string` and `bytes`, the 4-byte length that precedes each element's
 * bytes on the wire (the least an element can take).
 */
export function bytesPerElement(dtype: Dtype): number {
  return isVariableDtype(dtype) ? 4 : DTYPE_ARRAYS[dtype].BYTES_PER_ELEMENT;
}

export function isBigIntDtype(dtype: Dtype): dtype is 'int64' | 'uint64' {
  return dtype === 'int64' || dtype === 'uint64';
}

/**
 * The dtype a typed array implies when the caller names none. Uint16Array and Uint8Array are
 * ambiguous (float16 bits, bool); they map to uint16 and uint8 unless a dtype is given.
 */
export function dtypeOfArray(data: TypedArray): Dtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Uint32Array) return 'uint32';
  return 'uint64';
}

/** Whether a typed array is the storage type of a dtype (so it can be used without a copy). */
export function arrayMatchesDtype(data: TensorData, dtype: Dtype): boolean {
  if (dtype === 'string') return Array.isArray(data) && data.every((v) => typeof v === 'string');
  if (dtype === 'bytes') return Array.isArray(data) && data.every((v) => v instanceof Uint8Array);
  return data instanceof DTYPE_ARRAYS[dtype];
}
