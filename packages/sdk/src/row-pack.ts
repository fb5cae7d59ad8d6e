/**
 * @file Row packing: many predictMany items whose inputs share a first (batch) dimension become
 * the inputs of one job, and that job's outputs are split back into each item's rows. Pure: no
 * I/O, no signature. Items are packed in the form the application gave them (feature rows, nested
 * arrays, typed arrays with shapes, tensors), so the pack is validated and converted by the same
 * predict as one item would be.
 */
import { isFeatureRow, isFeatureRows, type Tensor, type TypedArray } from '@conveyor/shared';
import type { Outputs } from './client.js';

/** How an item's inputs pack: items of one `key` concatenate along dim 0; `rows` is its size there. */
export interface RowLayout {
  readonly key: string;
  readonly rows: number;
}

const isTypedArray = (value: unknown): value is TypedArray =>
  ArrayBuffer.isView(value) && !(value instanceof DataView);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  !isTypedArray(value) &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);

/** A `{ data, shape?, dtype? }` input as the caller gave it: not known to be well-formed yet. */
interface TensorLike {
  data: unknown;
  shape?: readonly unknown[];
  dtype?: string;
}

/** One input's rows and what another item's same input must share to be packed with it. */
function inputLayout(name: string, value: unknown): { rows: number; key: string } | undefined {
  if (Array.isArray(value)) {
    const inner: unknown = value[0];
    const width = Array.isArray(inner) ? String(inner.length) : '';
    return { rows: value.length, key: `${name}:a${width}` };
  }
  if (typeof value !== 'object' || value === null || !('data' in value)) return undefined;
  const { data, shape, dtype } = value as TensorLike;
  if (shape !== undefined && !Array.isArray(shape)) return undefined;
  if (dtype !== undefined && typeof dtype !== 'string') return undefined;
  const rows = Number(shape?.[0] ?? 0);
  const rest = shape?.slice(1).join('x');
  if (isTypedArray(data)) {
    if (shape === undefined || shape.length === 0) return undefined;
    return { rows, key: `${name}:t${dtype ?? data.constructor.name}:${rest}` };
  }
  if (!Array.isArray(data)) return undefined;
  if (shape !== undefined) {
    if (shape.length === 0) return undefined;
    const nested = String(Array.isArray(data[0]));
    return { rows, key: `${name}:s${dtype ?? ''}${nested}:${rest}` };
  }
  const inner: unknown = data[0];
  const width = Array.isArray(inner) ? String(inner.length) : '';
  return { rows: data.length, key: `${name}:n${dtype ?? ''}:${width}` };
}

/**
 * How an item's inputs pack, or undefined when they cannot: bare values, inputs that disagree on
 * their number of rows, or anything that is not a feature row, a list of feature rows, or a record
 * of arrays and `{ data, shape?, dtype? }` tensors.
 */
export function rowLayout(inputs: unknown): RowLayout | undefined {
  if (Array.isArray(inputs)) {
    return isFeatureRows(inputs)
      ? { key: `f:${Object.keys(inputs[0] as object).join(',')}`, rows: inputs.length }
      : undefined;
  }
  if (!isPlainObject(inputs)) return undefined;
  if (isFeatureRow(inputs)) return { key: `f:${Object.keys(inputs).join(',')}`, rows: 1 };
  let rows: number | undefined;
  const keys: string[] = [];
  for (const [name, value] of Object.entries(inputs)) {
    const layout = inputLayout(name, value);
    if (layout === undefined || (rows !== undefined && layout.rows !== rows)) return undefined;
    rows = layout.rows;
    keys.push(layout.key);
  }
  if (rows === undefined || !Number.isSafeInteger(rows) || rows < 1) return undefined;
  return { key: `i:${keys.join('|')}`, rows };
}

/** Nesting followed at most: a tensor has at most 16 dimensions, and a cycle stops here. */
const MAX_DEPTH = 20;

function bytesOf(value: unknown, depth: number): number {
  if (isTypedArray(value)) return value.byteLength;
  if (typeof value === 'string') return value.length;
  if (depth > MAX_DEPTH) return 0;
  if (Array.isArray(value))
    return value.length === 0 ? 0 : value.length * bytesOf(value[0], depth + 1);
  if (!isPlainObject(value)) return 8;
  if ('data' in value) return bytesOf(value.data, depth + 1);
  let bytes = 0;
  for (const key in value) if (Object.hasOwn(value, key)) bytes += bytesOf(value[key], depth + 1);
  return bytes;
}

/**
 * About how many bytes an item's inputs hold, in any form rowLayout takes: a typed array's own, a
 * string's length, 8 for any other value. Nested arrays are counted by their first elements (one
 * whose rows differ in length is refused when the job is checked). What bounds a pack's bytes.
 */
export const inputBytes = (inputs: unknown): number => bytesOf(inputs, 0);

function concatArrays(parts: readonly unknown[][]): unknown[] {
  const out: unknown[] = [];
  for (const part of parts) for (const value of part) out.push(value);
  return out;
}

function concatTyped(parts: readonly TypedArray[]): TypedArray {
  const first = parts[0] as TypedArray;
  const length = parts.reduce((n, p) => n + p.length, 0);
  const Ctor = first.constructor as new (length: number) => TypedArray;
  const out = new Ctor(length);
  let offset = 0;
  for (const part of parts) {
    // Items of one layout key hold typed arrays of one kind.
    (out as unknown as { set(src: TypedArray, at: number): void }).set(part, offset);
    offset += part.length;
  }
  return out;
}

/** One input of the pack: the items' values of that input, concatenated along dim 0. */
function packInput(values: readonly unknown[], rows: number): unknown {
  const first = values[0];
  if (Array.isArray(first)) return concatArrays(values as unknown[][]);
  const { shape, dtype, data } = first as TensorLike;
  const packed: TensorLike = {
    data: isTypedArray(data)
      ? concatTyped(values.map((v) => (v as TensorLike).data as TypedArray))
      : concatArrays(values.map((v) => (v as TensorLike).data as unknown[])),
  };
  if (shape !== undefined) packed.shape = [rows, ...shape.slice(1)];
  if (dtype !== undefined) packed.dtype = dtype;
  return packed;
}

/**
 * The inputs of one job that holds every item's rows in order. Every item must have a layout of
 * one key (see rowLayout); `rows` is the sum of their rows.
 */
export function packInputs(items: readonly unknown[], rows: number): unknown {
  const first = items[0];
  if (Array.isArray(first) || isFeatureRow(first)) {
    const out: unknown[] = [];
    for (const item of items) {
      if (Array.isArray(item)) for (const row of item) out.push(row);
      else out.push(item);
    }
    return out;
  }
  const packed: Record<string, unknown> = {};
  for (const name of Object.keys(first as object))
    packed[name] = packInput(
      items.map((item) => (item as Record<string, unknown>)[name]),
      rows,
    );
  return packed;
}

/** Rows [from, from + count) of a tensor whose first dimension is the batch: a view, not a copy. */
function sliceRows(tensor: Tensor, from: number, count: number, total: number): Tensor {
  const perRow = total === 0 ? 0 : tensor.data.length / total;
  const data = Array.isArray(tensor.data)
    ? tensor.data.slice(from * perRow, (from + count) * perRow)
    : tensor.data.subarray(from * perRow, (from + count) * perRow);
  return Object.freeze({
    dtype: tensor.dtype,
    shape: Object.freeze([count, ...tensor.shape.slice(1)]),
    data,
  });
}

/**
 * Splits a packed job's outputs into each item's, by its number of rows. Undefined when an output
 * does not have the pack's rows along its first dimension (a model whose outputs are not per row),
 * so the caller runs the items one by one instead.
 */
export function splitOutputs(outputs: Outputs, rows: readonly number[]): Outputs[] | undefined {
  const total = rows.reduce((n, r) => n + r, 0);
  const entries = Object.entries(outputs);
  if (entries.some(([, t]) => t.shape.length === 0 || t.shape[0] !== total)) return undefined;
  const split: Outputs[] = [];
  let offset = 0;
  for (const count of rows) {
    const own: Outputs = {};
    for (const [name, tensor] of entries) own[name] = sliceRows(tensor, offset, count, total);
    split.push(own);
    offset += count;
  }
  return split;
}

/**
 * The idempotency key of a pack of `count` items from item `first`, under a predictMany key
 * prefix: `<prefix>.<first>-<count>`. Items alone keep `<prefix>.<index>`, so a pack key never
 * equals an item key, and the same items packed the same way get the same key on every run.
 */
export function packIdempotencyKey(prefix: string, first: number, count: number): string {
  return `${prefix}.${first}-${count}`;
}
