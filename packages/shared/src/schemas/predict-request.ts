import { z } from 'zod';
import { ConveyorError } from '../errors.js';
import {
  DTYPES,
  DTYPE_ARRAYS,
  dtypeOfArray,
  isBigIntDtype,
  type Dtype,
  type TensorData,
  type TypedArray,
} from '../tensor/dtype.js';
import {
  DEFAULT_MAX_TENSOR_BYTES,
  MAX_RANK,
  checkedByteLength,
  createTensor,
  type Tensor,
} from '../tensor/tensor.js';
import { zodIssues } from '../validation.js';
import { ModelVersionSchema, TensorNameSchema } from './names.js';

/** Nested arrays of numbers (or bigints, booleans, strings), as deep as the tensor's rank. */
export type NestedArray = readonly (number | bigint | boolean | string | NestedArray)[];

/** One input as an application passes it: a typed array with its shape, or (nested) arrays. */
export type TensorInput =
  | NestedArray
  | Tensor
  | {
      data: TypedArray | NestedArray;
      /** Required for typed arrays and flat arrays of a rank other than 1. */
      shape?: readonly number[];
      /** Defaults to the typed array's own dtype, or float32 for plain numbers. */
      dtype?: Dtype;
    };

export type TensorInputs = Readonly<Record<string, TensorInput>>;

const isTypedArray = (value: unknown): value is TypedArray =>
  ArrayBuffer.isView(value) && !(value instanceof DataView);

const TensorInputObjectSchema = z
  .object({
    // Checked as an array only: its elements are checked once, by flatten and fill, without a
    // copy (z.array would walk and copy every element of a large tensor first).
    data: z.union([
      z.custom<TypedArray>(isTypedArray),
      z.custom<unknown[]>((value) => Array.isArray(value), { message: 'expected an array' }),
    ]),
    shape: z.array(z.number()).max(MAX_RANK).optional(),
    dtype: z.enum(DTYPES).optional(),
  })
  .strict();

/** Walks nested arrays, checking they are rectangular, and returns the shape and flat values. */
function flatten(value: readonly unknown[], where: string): { shape: number[]; values: unknown[] } {
  const shape: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    if (shape.length >= MAX_RANK) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: nested deeper than ${MAX_RANK} levels`,
      );
    }
    shape.push(level.length);
    level = level[0];
  }
  const depth = shape.length;
  // The path of an element is only spelled out for an error message: large tensors pay nothing.
  const pathOf = (indices: readonly number[]) => `data${indices.map((i) => `[${i}]`).join('')}`;
  const values: unknown[] = depth === 1 ? (value as unknown[]) : [];
  const indices: number[] = [];
  const walk = (node: readonly unknown[], level: number): void => {
    const width = shape[level] as number;
    if (node.length !== width) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: ragged array at ${pathOf(indices)}: expected ${width} entries like its siblings`,
      );
    }
    const leaf = level === depth - 1;
    for (let i = 0; i < width; i++) {
      const child = node[i];
      if (leaf) {
        if (Array.isArray(child)) {
          indices.push(i);
          throw new ConveyorError(
            'ERR_TENSOR_INVALID',
            `${where}: ${pathOf(indices)} is nested deeper than its siblings`,
          );
        }
        if (depth > 1) values.push(child);
        continue;
      }
      if (!Array.isArray(child)) {
        throw new ConveyorError(
          'ERR_TENSOR_INVALID',
          `${where}: ragged array at ${pathOf([...indices, i])}: expected ${shape[level + 1]} entries like its siblings`,
        );
      }
      indices.push(i);
      walk(child, level + 1);
      indices.pop();
    }
  };
  if (depth > 0) walk(value, 0);
  return { shape, values };
}

function fill(dtype: Dtype, values: readonly unknown[], where: string): TensorData {
  if (dtype === 'string') {
    const strings = new Array<string>(values.length);
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (typeof value !== 'string') {
        throw new ConveyorError(
          'ERR_TENSOR_INVALID',
          `${where}: element ${i} is ${typeof value}, not a string`,
        );
      }
      strings[i] = value;
    }
    return strings;
  }
  const data = new DTYPE_ARRAYS[dtype](values.length);
  const bigint = isBigIntDtype(dtype);
  const integer = dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16';
  for (let i = 0; i < values.length; i++) {
    let value: unknown = values[i];
    if (typeof value === 'boolean') value = value ? 1 : 0;
    if (bigint) {
      if (typeof value === 'number' && Number.isInteger(value)) value = BigInt(value);
      if (typeof value !== 'bigint') {
        throw new ConveyorError(
          'ERR_TENSOR_INVALID',
          `${where}: element ${i} is not an integer for ${dtype}`,
        );
      }
      data[i] = value;
      if (data[i] !== value) {
        throw new ConveyorError(
          'ERR_TENSOR_INVALID',
          `${where}: element ${i} is out of range for ${dtype}`,
        );
      }
      continue;
    }
    if (typeof value === 'bigint') value = Number(value);
    if (typeof value !== 'number') {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: element ${i} is ${typeof value}, not a number`,
      );
    }
    if (dtype === 'float16') {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: float16 inputs must be given as a Uint16Array of raw half-precision bits`,
      );
    }
    if (integer && !Number.isInteger(value)) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: element ${i} (${value}) is not an integer for ${dtype}`,
      );
    }
    data[i] = value;
    if (integer && data[i] !== value) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: element ${i} (${value}) is out of range for ${dtype}`,
      );
    }
    if (dtype === 'bool' && value !== 0 && value !== 1) {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: element ${i} of a bool tensor is neither 0 nor 1`,
      );
    }
  }
  return data;
}

/**
 * Turns one application-supplied input into a Tensor, or throws a ConveyorError that names the
 * input and says what is wrong. Shapes are checked against `maxBytes` before allocation.
 */
export function toTensor(
  name: string,
  input: unknown,
  maxBytes: number = DEFAULT_MAX_TENSOR_BYTES,
): Tensor {
  const where = `input "${name}"`;
  if (Array.isArray(input)) return toTensor(name, { data: input }, maxBytes);
  const parsed = TensorInputObjectSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `${where}: expected nested arrays of numbers or strings, or { data, shape?, dtype? } with a typed or plain array`,
      { issues: zodIssues(parsed.error, ['inputs', name]) },
    );
  }
  const { data, shape, dtype } = parsed.data;
  if (isTypedArray(data)) {
    const resolved = dtype ?? dtypeOfArray(data);
    const dims = shape ?? [data.length];
    checkedByteLength(resolved, dims, maxBytes, where);
    if (resolved === 'string') {
      throw new ConveyorError(
        'ERR_TENSOR_INVALID',
        `${where}: a string tensor takes an array of strings, not a typed array`,
      );
    }
    // A Uint8Array is bool's storage too, but only fill checks that its bytes are 0 or 1.
    if (data instanceof DTYPE_ARRAYS[resolved] && resolved !== 'bool') {
      return createTensor(resolved, dims, data, maxBytes, where);
    }
    return createTensor(
      resolved,
      dims,
      fill(resolved, Array.from(data as ArrayLike<unknown>), where) as TypedArray,
      maxBytes,
      where,
    );
  }
  const flat = flatten(data, where);
  const resolved =
    dtype ??
    (typeof flat.values[0] === 'bigint'
      ? 'int64'
      : typeof flat.values[0] === 'boolean'
        ? 'bool'
        : typeof flat.values[0] === 'string'
          ? 'string'
          : 'float32');
  const dims = shape ?? flat.shape;
  checkedByteLength(resolved, dims, maxBytes, where);
  return createTensor(resolved, dims, fill(resolved, flat.values, where), maxBytes, where);
}

/** Converts every input of a request; the first bad one throws. */
export function toTensors(
  inputs: unknown,
  maxBytes: number = DEFAULT_MAX_TENSOR_BYTES,
): Record<string, Tensor> {
  const parsed = z.record(TensorNameSchema, z.unknown()).safeParse(inputs);
  if (!parsed.success || Object.keys(parsed.data).length === 0) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      'inputs: expected an object with at least one named tensor',
      {
        issues: parsed.success ? [] : zodIssues(parsed.error, ['inputs']),
      },
    );
  }
  const tensors: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(parsed.data))
    tensors[name] = toTensor(name, value, maxBytes);
  return tensors;
}

const IdempotencyKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, {
    message: '1-128 characters of A-Z, a-z, 0-9, "_", "." and "-"',
  })
  .refine((key) => !/^[0-9]+$/.test(key), {
    message: 'must not be all digits (BullMQ reserves those ids)',
  });

/** Options of `predict` and `enqueue`. */
export const PredictOptionsSchema = z
  .object({
    /** Model version; default the newest a worker serves. */
    version: ModelVersionSchema.optional(),
    /** Outputs to return; default all. */
    outputs: z.array(TensorNameSchema).min(1).max(64).optional(),
    /** How long `predict` waits for the result, in ms. Default from the client (30 000). */
    timeoutMs: z.number().int().positive().max(86_400_000).optional(),
    /** Epoch ms (or a Date) after which a worker will not start the job. */
    deadline: z.union([z.date(), z.number().int().positive()]).optional(),
    /** BullMQ priority: 1 is the highest; absent means no priority (first in, first out). */
    priority: z.number().int().min(1).max(2_097_152).optional(),
    /** Enqueueing twice with the same key gives the same job. */
    idempotencyKey: IdempotencyKeySchema.optional(),
  })
  .strict();

export type PredictOptions = z.input<typeof PredictOptionsSchema>;
/** Predict options after validation (dates and defaults resolved by zod). */
export type ParsedPredictOptions = z.output<typeof PredictOptionsSchema>;
