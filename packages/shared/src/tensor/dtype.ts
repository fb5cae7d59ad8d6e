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
] as const;

export type Dtype = (typeof DTYPES)[number];

/** The typed array that holds each dtype. float16 is kept as its raw bits; bool as 0/1 bytes. */
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
}

export type TypedArray = DtypeArrays[Dtype];

interface TypedArrayConstructorOf<T> {
  new (length: number): T;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

export const DTYPE_ARRAYS: { readonly [D in Dtype]: TypedArrayConstructorOf<DtypeArrays[D]> } =
  Object.freeze({
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

export function bytesPerElement(dtype: Dtype): number {
  return DTYPE_ARRAYS[dtype].BYTES_PER_ELEMENT;
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
export function arrayMatchesDtype(data: TypedArray, dtype: Dtype): boolean {
  return data instanceof DTYPE_ARRAYS[dtype];
}
