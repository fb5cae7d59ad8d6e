import { endianness } from 'node:os';
import { z } from 'zod';
import { ConveyorError } from '../errors.js';
import {
  DTYPES,
  DTYPE_ARRAYS,
  bytesPerElement,
  isVariableDtype,
  type Dtype,
  type NumericDtype,
  type TypedArray,
} from './dtype.js';
import {
  DEFAULT_MAX_TENSOR_BYTES,
  checkedByteLength,
  createTensor,
  type Tensor,
} from './tensor.js';

/**
 * The wire form of a tensor in job payloads and results: dtype, shape, and the elements as
 * little-endian bytes in base64. About 1.33 bytes on the wire per byte of data; never JSON numbers.
 * A `string` tensor's bytes are its elements one after the other, each as a 4-byte little-endian
 * byte count and its UTF-8 bytes (the layout of OIP's binary `BYTES`); a `bytes` tensor's the
 * same, with any bytes (no UTF-8 check).
 */
export const WireTensorSchema = z
  .object({
    dtype: z.enum(DTYPES),
    shape: z.array(z.number().int().nonnegative()).max(16),
    data: z.base64(),
  })
  .strict();

export type WireTensor = z.infer<typeof WireTensorSchema>;

/**
 * A large input tensor whose bytes are stored beside its job in Redis, under
 * `blobKey(prefix, jobId, inputName)`, instead of inside the job's JSON: they then cross Redis,
 * BullMQ's scripts and JSON parsing as raw bytes, without base64. The job carries only this.
 */
export const BlobTensorSchema = z
  .object({
    dtype: z.enum(DTYPES),
    shape: z.array(z.number().int().nonnegative()).max(16),
    blob: z.literal(true),
  })
  .strict();

export type BlobTensor = z.infer<typeof BlobTensorSchema>;

/**
 * An output tensor whose bytes are stored once, raw, in its job's hash (RESULT_FIELD): `at` is
 * its offset in that field and `bytes` its length. The job's return value (and so the event that
 * says the job finished) carries only this.
 */
export const StoredTensorSchema = z
  .object({
    dtype: z.enum(DTYPES),
    shape: z.array(z.number().int().nonnegative()).max(16),
    at: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
  })
  .strict();

export type StoredTensor = z.infer<typeof StoredTensorSchema>;

const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Byte elements as length-prefixed: a 4-byte little-endian byte count, then the bytes, each. */
export function encodeBytes(values: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(values.reduce((n, part) => n + 4 + part.byteLength, 0));
  let at = 0;
  for (const part of values) {
    out.writeUInt32LE(part.byteLength, at);
    out.set(part, at + 4);
    at += 4 + part.byteLength;
  }
  return out;
}

/** Strings as length-prefixed UTF-8: a 4-byte little-endian byte count, then the bytes, each. */
export function encodeStrings(values: readonly string[]): Buffer {
  return encodeBytes(values.map((value) => Buffer.from(value, 'utf8')));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads `elements` length-prefixed byte elements that must fill `bytes` exactly, refusing a count
 * that runs past the end and bytes left over. The elements are views of `bytes`, not copies.
 */
export function decodeBytes(bytes: Uint8Array, elements: number, where = 'tensor'): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const invalid = (message: string) =>
    new ConveyorError('ERR_TENSOR_INVALID', `${where}: ${message}`, {
      details: { elements, bytes: bytes.byteLength },
    });
  const out = new Array<Uint8Array>(elements);
  let at = 0;
  for (let i = 0; i < elements; i += 1) {
    if (at + 4 > bytes.byteLength) throw invalid(`element ${i} is missing`);
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > bytes.byteLength)
      throw invalid(`element ${i} claims ${length} bytes past the end of the data`);
    out[i] = new Uint8Array(bytes.buffer, bytes.byteOffset + at, length);
    at += length;
  }
  if (at !== bytes.byteLength)
    throw invalid(`${bytes.byteLength - at} bytes follow the last of ${elements} elements`);
  return out;
}

/**
 * Reads `elements` length-prefixed UTF-8 strings that must fill `bytes` exactly, refusing a count
 * that runs past the end, bytes left over and text that is not UTF-8.
 */
export function decodeStrings(bytes: Uint8Array, elements: number, where = 'tensor'): string[] {
  return decodeBytes(bytes, elements, where).map((element, i) => {
    try {
      return UTF8.decode(element);
    } catch {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: string element ${i} is not valid UTF-8`,
        { details: { elements, bytes: bytes.byteLength } },
      );
    }
  });
}

/** A tensor's elements as little-endian bytes (a view of its data on little-endian hosts). */
export function tensorBytes(tensor: Tensor): Buffer {
  if (tensor.dtype === 'string') return encodeStrings(tensor.data as string[]);
  if (tensor.dtype === 'bytes') return encodeBytes(tensor.data as Uint8Array[]);
  let bytes = bytesOf(tensor.data as TypedArray);
  if (!HOST_IS_LITTLE_ENDIAN) {
    bytes = bytes.slice();
    swapBytes(bytes, bytesPerElement(tensor.dtype));
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Encodes a tensor to its wire form. */
export function encodeTensor(tensor: Tensor): WireTensor {
  const { data } = tensor;
  const small =
    !isVariableDtype(tensor.dtype) &&
    HOST_IS_LITTLE_ENDIAN &&
    (data as TypedArray).byteLength <= SMALL_BYTES;
  return {
    dtype: tensor.dtype,
    shape: [...tensor.shape],
    data: small
      ? encodeSmall(tensor.dtype, data as TypedArray)
      : tensorBytes(tensor).toString('base64'),
  };
}

/**
 * A small numeric tensor's base64, through SCRATCH: reading its bytes through `.buffer` would make
 * an ArrayBuffer of a typed array V8 keeps on its heap (see SMALL_BYTES).
 */
function encodeSmall(dtype: NumericDtype, data: TypedArray): string {
  const to = SCRATCH_VIEWS[dtype] as unknown as Record<number, unknown>;
  const from = data as unknown as ArrayLike<unknown>;
  for (let i = 0; i < from.length; i++) to[i] = from[i];
  return SCRATCH.toString('base64', 0, data.byteLength);
}

function base64ByteLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

export interface DecodeOptions {
  /** Largest tensor accepted, in bytes; checked before the data is decoded. Default 64 MiB. */
  maxBytes?: number;
  /** Names the tensor in error messages, e.g. `input "features"`. */
  where?: string;
  /**
   * tensorFromBytes only: the caller hands the bytes over and never touches them again, so a
   * source that is a whole, unshared ArrayBuffer becomes the tensor's data without a copy.
   */
  adopt?: boolean;
  /**
   * decodeTensor only: a tensor of under 4 KiB may be decoded into Buffer's shared pool (at an
   * 8-byte-aligned offset) instead of a buffer of its own: no allocation per small tensor, but its
   * buffer must never be transferred or detached.
   */
  pooled?: boolean;
}

/**
 * Decodes a wire tensor, refusing (before allocating) one whose shape is too large or whose
 * byte count does not equal shape × element size.
 */
export function decodeTensor(wire: WireTensor, options: DecodeOptions = {}): Tensor {
  const where = options.where ?? 'tensor';
  const { elements, bytes } = checkedByteLength(
    wire.dtype,
    wire.shape,
    options.maxBytes ?? DEFAULT_MAX_TENSOR_BYTES,
    where,
  );
  const encodedBytes = base64ByteLength(wire.data);
  if (isVariableDtype(wire.dtype))
    checkVariableBytes(wire.dtype, encodedBytes, bytes, options.maxBytes, where);
  else if (encodedBytes !== bytes) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: shape [${wire.shape.join(', ')}] of ${wire.dtype} needs ${bytes} bytes but data has ${encodedBytes}`,
      { details: { shape: wire.shape, dtype: wire.dtype, bytes: encodedBytes } },
    );
  }
  if (wire.dtype === 'string') {
    return fromBytes(wire.dtype, wire.shape, Buffer.from(wire.data, 'base64'), elements, where);
  }
  if (wire.dtype === 'bytes') {
    // A buffer of its own, not Buffer.from's pool slice: the elements are views of it.
    const target = Buffer.from(new ArrayBuffer(encodedBytes));
    if (target.write(wire.data, 'base64') !== encodedBytes)
      throw new ConveyorError('ERR_TENSOR_INVALID', `${where}: data is not base64`);
    return fromBytes(wire.dtype, wire.shape, target, elements, where);
  }
  if (bytes <= SMALL_BYTES && !options.pooled && HOST_IS_LITTLE_ENDIAN)
    return decodeSmall(wire, elements, bytes, where);
  // Straight into an aligned buffer, without Buffer.from's copy: Buffer.from decodes into a slice
  // of the shared pool at any offset. allocUnsafe's slices of the pool start at multiples of 8.
  const target =
    options.pooled && bytes < Buffer.poolSize >>> 1
      ? Buffer.allocUnsafe(bytes)
      : Buffer.from(new ArrayBuffer(bytes));
  if (target.write(wire.data, 'base64') !== bytes) {
    throw new ConveyorError('ERR_TENSOR_INVALID', `${where}: data is not base64`);
  }
  return fromBytes(wire.dtype, wire.shape, target, elements, where);
}

/**
 * Largest numeric tensor decoded through SCRATCH into a typed array of its own length: V8 keeps a
 * typed array of up to 64 bytes made that way on its heap, with no ArrayBuffer (a malloc, and an
 * extension every collection sweeps) until someone asks for its `.buffer`. A small model's result
 * decoded about 0.6 µs faster.
 */
const SMALL_BYTES = 64;
const SCRATCH = Buffer.allocUnsafeSlow(SMALL_BYTES);
/** SCRATCH seen as each numeric dtype's array, made once. */
const SCRATCH_VIEWS = Object.fromEntries(
  Object.entries(DTYPE_ARRAYS).map(([dtype, Ctor]) => [
    dtype,
    new Ctor(SCRATCH.buffer, 0, SMALL_BYTES / Ctor.BYTES_PER_ELEMENT),
  ]),
) as Record<NumericDtype, TypedArray>;

/** A small numeric wire tensor (see SMALL_BYTES), its size checked by the caller. */
function decodeSmall(wire: WireTensor, elements: number, bytes: number, where: string): Tensor {
  if (SCRATCH.write(wire.data, 'base64') !== bytes)
    throw new ConveyorError('ERR_TENSOR_INVALID', `${where}: data is not base64`);
  const dtype = wire.dtype as NumericDtype;
  const from = SCRATCH_VIEWS[dtype] as unknown as ArrayLike<number>;
  const data = new DTYPE_ARRAYS[dtype](elements) as unknown as Record<number, number>;
  // Element by element: a set() from a view would be one more object, .buffer an ArrayBuffer.
  for (let i = 0; i < elements; i++) data[i] = from[i] as number;
  if (dtype === 'bool' && (data as unknown as Uint8Array).some((v) => v > 1)) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: bool data holds bytes other than 0 and 1`,
    );
  }
  return createTensor(
    dtype,
    wire.shape,
    data as unknown as TypedArray,
    Number.POSITIVE_INFINITY,
    where,
  );
}

/** True when `bytes` is the whole of an ArrayBuffer of its own (not a pool or socket slice). */
function ownsWholeBuffer(bytes: Uint8Array): boolean {
  return (
    bytes.byteOffset === 0 &&
    bytes.buffer instanceof ArrayBuffer &&
    bytes.byteLength === bytes.buffer.byteLength
  );
}

/**
 * Reads a tensor from its little-endian bytes (a blob), refusing before allocating one whose
 * shape is too large or whose byte count does not equal shape × element size.
 */
export function tensorFromBytes(
  dtype: Dtype,
  shape: readonly number[],
  source: Uint8Array,
  options: DecodeOptions = {},
): Tensor {
  const where = options.where ?? 'tensor';
  const { elements, bytes } = checkedByteLength(
    dtype,
    shape,
    options.maxBytes ?? DEFAULT_MAX_TENSOR_BYTES,
    where,
  );
  if (isVariableDtype(dtype))
    checkVariableBytes(dtype, source.byteLength, bytes, options.maxBytes, where);
  else if (source.byteLength !== bytes) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${bytes} bytes but the stored data has ${source.byteLength}`,
      { details: { shape, dtype, bytes: source.byteLength } },
    );
  }
  if (dtype === 'string') return fromBytes(dtype, shape, source, elements, where);
  // A fresh, aligned buffer unless handed one: a source may be a slice of a pool at any offset.
  // A bytes tensor's elements are views of it, so they never share the caller's buffer either.
  const target = options.adopt && ownsWholeBuffer(source) ? source : new Uint8Array(source);
  return fromBytes(dtype, shape, target, elements, where);
}

/** A string or bytes tensor's data holds at least its length prefixes, and at most `maxBytes`. */
function checkVariableBytes(
  dtype: Dtype,
  actual: number,
  least: number,
  maxBytes: number | undefined,
  where: string,
): void {
  const max = maxBytes ?? DEFAULT_MAX_TENSOR_BYTES;
  if (actual > max) {
    throw new ConveyorError(
      'ERR_TENSOR_TOO_LARGE',
      `${where}: ${actual} bytes of ${dtype} elements are over the limit of ${max} bytes`,
      { details: { bytes: actual, maxBytes: max } },
    );
  }
  if (actual < least) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: ${least / 4} ${dtype} elements need at least ${least} bytes but data has ${actual}`,
      { details: { bytes: actual } },
    );
  }
}

/**
 * The tensor over `bytes`: a string tensor's are decoded; a bytes tensor's elements are views of
 * them; any other's become its data, so they must be aligned to the element size and the
 * caller's alone.
 */
function fromBytes(
  dtype: Dtype,
  shape: readonly number[],
  bytes: Uint8Array,
  elements: number,
  where: string,
): Tensor {
  if (dtype === 'string') {
    const strings = decodeStrings(bytes, elements, where);
    return createTensor(dtype, shape, strings, Number.POSITIVE_INFINITY, where);
  }
  if (dtype === 'bytes') {
    const blobs = decodeBytes(bytes, elements, where);
    return createTensor(dtype, shape, blobs, Number.POSITIVE_INFINITY, where);
  }
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(bytes, bytesPerElement(dtype));
  const Ctor = DTYPE_ARRAYS[dtype];
  const data = new Ctor(bytes.buffer, bytes.byteOffset, elements);
  if (dtype === 'bool' && (data as Uint8Array).some((v) => v > 1)) {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `${where}: bool data holds bytes other than 0 and 1`,
    );
  }
  return createTensor(dtype, shape, data, Number.POSITIVE_INFINITY, where);
}

/** A zod schema that reads the wire form into a Tensor and writes it back (z.encode). */
export const TensorCodec = z.codec(WireTensorSchema, z.custom<Tensor>(), {
  decode: (wire, ctx) => {
    try {
      return decodeTensor(wire);
    } catch (error) {
      const known = error instanceof ConveyorError ? error : undefined;
      ctx.issues.push({
        code: 'custom',
        input: wire,
        message: known?.message ?? String(error),
        params: { code: known?.code ?? 'ERR_TENSOR_INVALID' },
      });
      return z.NEVER;
    }
  },
  encode: (tensor) => encodeTensor(tensor),
});
