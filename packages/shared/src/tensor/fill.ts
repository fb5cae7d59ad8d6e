import { ConveyorError } from '../errors.js';
import { DTYPE_ARRAYS, isBigIntDtype, type Dtype, type TensorData } from './dtype.js';
import { toFloatElement, valueOutOfRange } from './range.js';

/**
 * Who chose the dtype plain values are filled into. `caller`: the caller named it, or the values
 * imply it (numbers float32, bigints int64, booleans bool, strings string, Uint8Arrays bytes), and
 * a value that does not fit is bad data (ERR_TENSOR_INVALID). `model`: the caller named none and
 * the values are converted to the dtype the model declares, so a value that does not fit is
 * ERR_INPUT_DTYPE.
 */
export type DtypeSource = 'caller' | 'model';

/** What `fill` needs besides the dtype and the values. */
export interface FillContext {
  /** The input's name, for messages and details. */
  readonly input: string;
  /** The shape of the values as the caller laid them out, to name a bad element's position. */
  readonly layout: readonly number[];
  readonly source: DtypeSource;
}

type IntegerDtype = 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64';

const RANGES: { readonly [D in IntegerDtype | 'bool']: readonly [bigint, bigint] } = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 2n ** 8n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  bool: [0n, 1n],
};

// A number past 2^53 may already have been rounded (by JSON.parse, say): converted for the model,
// 64-bit integers take safe integers as numbers and the full range only as bigints.
const SAFE: readonly [bigint, bigint] = [
  BigInt(Number.MIN_SAFE_INTEGER),
  BigInt(Number.MAX_SAFE_INTEGER),
];

const isIntegerDtype = (dtype: Dtype): dtype is IntegerDtype =>
  dtype !== 'bool' && Object.hasOwn(RANGES, dtype);

/** Whether values led by `first` convert to `declared` without loss (see `plainDtype`). */
function convertsTo(first: unknown, declared: Dtype): boolean {
  switch (typeof first) {
    case 'undefined': // no elements
      return true;
    case 'number':
      return declared !== 'string' && declared !== 'bytes';
    case 'bigint':
      return isIntegerDtype(declared);
    case 'boolean':
      return declared === 'bool';
    case 'string': // text, or base64 for bytes
      return declared === 'string' || declared === 'bytes';
    case 'object': // raw bytes, or UTF-8 text for string
      return first instanceof Uint8Array && (declared === 'bytes' || declared === 'string');
    default:
      return false;
  }
}

/**
 * The dtype of plain values (nested arrays or a bare value) given without a dtype, judged by their
 * first element: the model's declared dtype when they convert to it without loss (numbers to any
 * numeric dtype or bool, bigints to integer dtypes, booleans to bool, strings to string or to bytes
 * as base64, Uint8Arrays to bytes or to string as UTF-8), else the dtype the values imply, which
 * the signature check then refuses with ERR_INPUT_DTYPE.
 */
export function plainDtype(
  first: unknown,
  declared: Dtype | undefined,
): { dtype: Dtype; source: DtypeSource } {
  if (declared !== undefined && convertsTo(first, declared))
    return { dtype: declared, source: 'model' };
  const implied =
    typeof first === 'bigint'
      ? 'int64'
      : typeof first === 'boolean'
        ? 'bool'
        : typeof first === 'string'
          ? 'string'
          : first instanceof Uint8Array
            ? 'bytes'
            : 'float32';
  return { dtype: implied, source: 'caller' };
}

/** `element [1, 2]` for a position in the caller's layout; `the value` for a bare value. */
function elementName(index: number, layout: readonly number[]): string {
  if (layout.length === 0) return 'the value';
  const position: number[] = [];
  let rest = index;
  for (let axis = layout.length - 1; axis >= 0; axis -= 1) {
    const size = Math.max(1, layout[axis] as number);
    position.unshift(rest % size);
    rest = Math.floor(rest / size);
  }
  return `element [${position.join(', ')}]`;
}

function wrongType(value: unknown, index: number, context: FillContext, expected: string) {
  const kind = value === null ? 'null' : typeof value;
  return new ConveyorError(
    'ERR_TENSOR_INVALID',
    `input "${context.input}": ${elementName(index, context.layout)} is ${kind}, not ${expected}`,
    { details: { input: context.input, index } },
  );
}

const clamp = (range: readonly [bigint, bigint], to: readonly [bigint, bigint]) =>
  [range[0] > to[0] ? range[0] : to[0], range[1] < to[1] ? range[1] : to[1]] as const;

/**
 * A value of the right type that the dtype cannot hold; the message gives the allowed range. Out of
 * the dtype's range is ERR_INPUT_VALUE; a fraction, a number past the safe integers or a bool
 * other than 0 and 1 is a mismatch of type (ERR_INPUT_DTYPE for the model's dtype, else
 * ERR_TENSOR_INVALID).
 */
function misfit(
  value: number | bigint,
  index: number,
  dtype: IntegerDtype | 'bool',
  context: FillContext,
): ConveyorError {
  const narrowed = context.source === 'model' && typeof value === 'number' && isBigIntDtype(dtype);
  const [min, max] = narrowed ? clamp(RANGES[dtype], SAFE) : RANGES[dtype];
  const why =
    dtype === 'bool'
      ? 'is neither 0 nor 1'
      : typeof value === 'number' && !Number.isInteger(value)
        ? 'is not an integer'
        : narrowed && !Number.isSafeInteger(value)
          ? 'is past the safe integers, so it may have been rounded'
          : 'is out of range';
  const allowed =
    dtype === 'bool'
      ? '0, 1, true or false'
      : `integers from ${min} to ${max}${narrowed ? ' as numbers (bigints for its full range)' : ''}`;
  const code =
    why === 'is out of range'
      ? 'ERR_INPUT_VALUE'
      : context.source === 'model'
        ? 'ERR_INPUT_DTYPE'
        : 'ERR_TENSOR_INVALID';
  return new ConveyorError(
    code,
    `input "${context.input}": ${elementName(index, context.layout)} (${String(value)}) ${why}; ${dtype} takes ${allowed}`,
    { details: { input: context.input, index, dtype, min: String(min), max: String(max) } },
  );
}

/** A number or bigint element; booleans count as 0 and 1. Anything else is undefined. */
function numericOf(value: unknown): number | bigint | undefined {
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

/** Converts one element to a number-backed dtype (floats, float16 bits, ≤32-bit integers, bool). */
function toNumberElement(
  dtype: Exclude<Dtype, 'string' | 'bytes' | 'int64' | 'uint64'>,
  context: FillContext,
): (value: unknown, index: number) => number {
  if (dtype === 'float32' || dtype === 'float64' || dtype === 'float16') {
    return (value, index) => {
      const n = numericOf(value);
      if (n === undefined) throw wrongType(value, index, context, 'a number');
      const number = Number(n);
      const element = () => elementName(index, context.layout);
      // A bigint past every float is out of range too, not the Infinity Number() makes of it.
      if (typeof n === 'bigint' && !Number.isFinite(number))
        throw valueOutOfRange(context.input, element(), n, dtype, 'finite numbers');
      return toFloatElement(dtype, number, context.input, element);
    };
  }
  const [min, max] = RANGES[dtype];
  const [low, high] = [Number(min), Number(max)];
  return (value, index) => {
    const n = numericOf(value);
    if (n === undefined) throw wrongType(value, index, context, 'a number');
    const fits =
      typeof n === 'bigint' ? n >= min && n <= max : Number.isInteger(n) && n >= low && n <= high;
    if (!fits) throw misfit(n, index, dtype, context);
    return Number(n);
  };
}

/** Converts one element to int64 or uint64. */
function toBigIntElement(
  dtype: 'int64' | 'uint64',
  context: FillContext,
): (value: unknown, index: number) => bigint {
  const [min, max] = RANGES[dtype];
  const exact = context.source === 'model' ? Number.isSafeInteger : Number.isInteger;
  return (value, index) => {
    const n = numericOf(value);
    if (n === undefined) throw wrongType(value, index, context, 'an integer');
    if (typeof n === 'number' && !exact(n)) throw misfit(n, index, dtype, context);
    const big = BigInt(n);
    if (big < min || big > max) throw misfit(n, index, dtype, context);
    return big;
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Each element a string, or a Uint8Array of UTF-8 text (how binary OIP `BYTES` arrive). */
function fillStrings(values: readonly unknown[], context: FillContext): string[] {
  const strings = new Array<string>(values.length);
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i];
    if (typeof value === 'string') strings[i] = value;
    else if (value instanceof Uint8Array) strings[i] = utf8Text(value, i, context);
    else throw wrongType(value, i, context, 'a string');
  }
  return strings;
}

function utf8Text(bytes: Uint8Array, index: number, context: FillContext): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `input "${context.input}": ${elementName(index, context.layout)} is not valid UTF-8; a string input takes text (send raw binary to a bytes input)`,
      { details: { input: context.input, index } },
    );
  }
}

// Strict base64 (RFC 4648 §4, padded): Buffer.from would skip any character it does not know.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Each element a Uint8Array (kept, not copied) or a base64 string (decoded). */
function fillBytes(values: readonly unknown[], context: FillContext): Uint8Array[] {
  const blobs = new Array<Uint8Array>(values.length);
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i];
    if (value instanceof Uint8Array) blobs[i] = value;
    else if (typeof value === 'string' && BASE64.test(value)) {
      const decoded = Buffer.from(value, 'base64');
      blobs[i] = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
    } else if (typeof value === 'string') {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `input "${context.input}": ${elementName(i, context.layout)} is not base64; bytes elements are given as base64 strings`,
        { details: { input: context.input, index: i } },
      );
    } else throw wrongType(value, i, context, 'a Uint8Array or a base64 string');
  }
  return blobs;
}

/**
 * Fills the storage array of `dtype` from plain values, checking every element once: its type, and
 * that the dtype holds it (integers in range, 0 or 1 for bool, base64 text for bytes). A value of
 * the wrong type is ERR_TENSOR_INVALID; one the dtype cannot hold is ERR_INPUT_DTYPE when
 * converting for the model, else ERR_TENSOR_INVALID. Each error names the input, the element and
 * the allowed range.
 */
export function fill(dtype: Dtype, values: readonly unknown[], context: FillContext): TensorData {
  if (dtype === 'string') return fillStrings(values, context);
  if (dtype === 'bytes') return fillBytes(values, context);
  if (dtype === 'float16' && context.source === 'caller') {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      `input "${context.input}": float16 data with a dtype must be a Uint16Array of raw half-precision bits (plain numbers without a dtype are converted)`,
      { details: { input: context.input } },
    );
  }
  if (isBigIntDtype(dtype)) {
    const data = new DTYPE_ARRAYS[dtype](values.length);
    const convert = toBigIntElement(dtype, context);
    for (let i = 0; i < values.length; i += 1) data[i] = convert(values[i], i);
    return data;
  }
  const data = new DTYPE_ARRAYS[dtype](values.length);
  const convert = toNumberElement(dtype, context);
  for (let i = 0; i < values.length; i += 1) data[i] = convert(values[i], i);
  return data;
}
