import { z } from 'zod';
import { ConveyorError } from '../errors.js';
import { MAX_TIMEOUT_MS } from '../defaults.js';
import {
  DTYPES,
  DTYPE_ARRAYS,
  dtypeOfArray,
  type Dtype,
  type TypedArray,
} from '../tensor/dtype.js';
import { fill, plainDtype } from '../tensor/fill.js';
import { flatten } from '../tensor/flatten.js';
import {
  DEFAULT_MAX_TENSOR_BYTES,
  MAX_RANK,
  checkedByteLength,
  createTensor,
  isCheckedTensor,
  type Tensor,
} from '../tensor/tensor.js';
import type { ModelSignature, TensorSpec } from './model-config.js';
import { zodIssues } from '../validation.js';
import { VersionRefSchema } from './aliases.js';
import { TensorNameSchema } from './names.js';
import { isPlainRecord, isTensorName } from './plain-checks.js';

/**
 * Nested arrays of numbers (or bigints, booleans, strings, Uint8Arrays for bytes), as deep as the
 * tensor's rank.
 */
export type NestedArray = readonly (
  number | bigint | boolean | string | Uint8Array | NestedArray
)[];

/** A bare value: the one element of an input the model declares with shape `[]`. */
export type ScalarInput = number | bigint | boolean | string;

/**
 * One input as an application passes it: (nested) arrays, a bare value for an input of shape
 * `[]`, a Uint8Array (a Buffer) as the one element of a bytes input, a typed array with its shape,
 * a Tensor, or plain objects for a string input (a `record` step's rows, sent as JSON text).
 */
export type TensorInput =
  | NestedArray
  | readonly Readonly<Record<string, unknown>>[]
  | ScalarInput
  | Uint8Array
  | Tensor
  | {
      data: TypedArray | NestedArray;
      /** Required for typed arrays and flat arrays of a rank other than 1. */
      shape?: readonly number[];
      /**
       * Defaults to the typed array's own dtype; for plain values, to the model's dtype for the
       * input when they convert to it without loss, else float32 for numbers.
       */
      dtype?: Dtype;
    };

export type TensorInputs = Readonly<Record<string, TensorInput>>;

/** What `toTensor` uses of the model's declaration of an input. */
export type InputSpec = Pick<TensorSpec, 'dtype' | 'shape'>;

const isTypedArray = (value: unknown): value is TypedArray =>
  ArrayBuffer.isView(value) && !(value instanceof DataView);

const isScalarInput = (value: unknown): value is ScalarInput =>
  typeof value === 'number' ||
  typeof value === 'bigint' ||
  typeof value === 'boolean' ||
  typeof value === 'string';

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

/** A typed array keeps its own dtype unless one is named; then it is converted element by element. */
function fromTypedArray(
  name: string,
  data: TypedArray,
  given: { shape?: readonly number[] | undefined; dtype?: Dtype | undefined },
  maxBytes: number,
): Tensor {
  const where = `input "${name}"`;
  const resolved = given.dtype ?? dtypeOfArray(data);
  const dims = given.shape ?? [data.length];
  checkedByteLength(resolved, dims, maxBytes, where);
  if (resolved === 'string' || resolved === 'bytes') {
    throw new ConveyorError(
      'ERR_TENSOR_INVALID',
      resolved === 'string'
        ? `${where}: a string tensor takes an array of strings, not a typed array`
        : `${where}: a bytes tensor takes a Uint8Array per element: give the Uint8Array itself, or an array of them`,
    );
  }
  // A Uint8Array is bool's storage too, but only fill checks that its bytes are 0 or 1.
  if (data instanceof DTYPE_ARRAYS[resolved] && resolved !== 'bool') {
    return createTensor(resolved, dims, data, maxBytes, where);
  }
  const values = Array.from(data as ArrayLike<unknown>);
  const context = { input: name, layout: [data.length], source: 'caller' } as const;
  const converted = fill(resolved, values, context) as TypedArray;
  return createTensor(resolved, dims, converted, maxBytes, where);
}

/**
 * Plain values (flattened nested arrays, or a bare value) in the dtype the caller names, else in
 * the model's dtype for the input when they convert to it without loss (see `plainDtype`).
 */
function fromPlain(
  name: string,
  plain: { values: readonly unknown[]; layout: readonly number[] },
  given: { shape?: readonly number[] | undefined; dtype?: Dtype | undefined },
  maxBytes: number,
  spec: InputSpec | undefined,
): Tensor {
  const where = `input "${name}"`;
  const { dtype, source } =
    given.dtype === undefined
      ? plainDtype(plain.values[0], spec?.dtype)
      : { dtype: given.dtype, source: 'caller' as const };
  const dims = given.shape ?? plain.layout;
  checkedByteLength(dtype, dims, maxBytes, where);
  const data = fill(dtype, plain.values, { input: name, layout: plain.layout, source });
  return createTensor(dtype, dims, data, maxBytes, where);
}

/** A bare value for an input the model declares with a rank other than 0. */
function bareValueRefused(name: string, spec: InputSpec): ConveyorError {
  return new ConveyorError(
    'ERR_VALIDATION',
    `input "${name}": a bare value is taken only by an input of shape []; this one has shape [${spec.shape.join(', ')}], so give nested arrays or { data, shape?, dtype? }`,
    { issues: [{ path: `inputs.${name}`, message: 'expected an array or a tensor' }] },
  );
}

/** A non-empty array of plain objects: rows of a `record` step's input. */
function isRecordList(values: readonly unknown[]): values is Record<string, unknown>[] {
  return (
    values.length > 0 &&
    values.every((value) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
      const proto: unknown = Object.getPrototypeOf(value);
      return proto === Object.prototype || proto === null;
    })
  );
}

/**
 * Turns one application-supplied input into a Tensor, or throws a ConveyorError that names the
 * input and says what is wrong. A lone Uint8Array (a Buffer) is one element of a bytes tensor. An
 * array of plain objects for a string input is one JSON text per object (the rows of a `record`
 * step). Shapes are checked against `maxBytes` before allocation. With the model's `spec` of the
 * input, plain values given without a dtype take its dtype when they convert to it without loss,
 * and a bare value (a tensor of shape []) is refused with ERR_VALIDATION when the input's rank is
 * not 0.
 */
export function toTensor(
  name: string,
  input: unknown,
  maxBytes: number = DEFAULT_MAX_TENSOR_BYTES,
  spec?: InputSpec,
): Tensor {
  // Made by createTensor at an earlier boundary (the producer's decoding): only its size is new.
  if (isCheckedTensor(input)) {
    checkedByteLength(input.dtype, input.shape, maxBytes, `input "${name}"`);
    return input;
  }
  if (input instanceof Uint8Array) {
    // One element (an image, a file): shape [] for an input of rank 0, else 1 along each axis.
    const layout = new Array<number>(spec?.shape.length ?? 1).fill(1);
    return fromPlain(name, { values: [input], layout }, { dtype: 'bytes' }, maxBytes, spec);
  }
  if (isScalarInput(input)) {
    if (spec !== undefined && spec.shape.length > 0) throw bareValueRefused(name, spec);
    return fromPlain(name, { values: [input], layout: [] }, {}, maxBytes, spec);
  }
  if (Array.isArray(input) && spec?.dtype === 'string' && isRecordList(input)) {
    // Records for a `record` step: each object travels as its JSON text, one element per row.
    return toTensor(
      name,
      input.map((record) => JSON.stringify(record)),
      maxBytes,
      spec,
    );
  }
  if (Array.isArray(input)) return toTensor(name, { data: input }, maxBytes, spec);
  const parsed = TensorInputObjectSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      `input "${name}": expected nested arrays of numbers or strings, a bare value for an input of shape [], or { data, shape?, dtype? } with a typed or plain array`,
      { issues: zodIssues(parsed.error, ['inputs', name]) },
    );
  }
  const { data, ...given } = parsed.data;
  if (isTypedArray(data)) return fromTypedArray(name, data, given, maxBytes);
  const { shape: layout, values } = flatten(data, `input "${name}"`);
  return fromPlain(name, { values, layout }, given, maxBytes, spec);
}

/** A request's inputs by name, each checked by toTensor (built once: zod schemas cost to build). */
export const NamedInputsSchema = z.record(TensorNameSchema, z.unknown());

/**
 * `inputs` itself when NamedInputsSchema would return an equal copy of it: a plain object whose
 * own keys are all tensor names (no symbols, no own `__proto__`, which zod drops). Anything else is
 * left to the schema, with its issues.
 */
export function plainNamedInputs(inputs: unknown): Record<string, unknown> | undefined {
  if (!isPlainRecord(inputs) || Object.getOwnPropertySymbols(inputs).length > 0) return undefined;
  for (const key of Object.keys(inputs))
    if (key === '__proto__' || !isTensorName(key)) return undefined;
  return inputs;
}

/**
 * Converts every input of a request; the first bad one throws. With the model's signature, each
 * input is converted as `toTensor` does with that input's spec.
 */
export function toTensors(
  inputs: unknown,
  maxBytes: number = DEFAULT_MAX_TENSOR_BYTES,
  signature?: Pick<ModelSignature, 'inputs'>,
): Record<string, Tensor> {
  const named = plainNamedInputs(inputs);
  const parsed = named
    ? { success: true as const, data: named }
    : NamedInputsSchema.safeParse(inputs);
  if (!parsed.success || !hasKey(parsed.data)) {
    throw new ConveyorError(
      'ERR_VALIDATION',
      'inputs: expected an object with at least one named tensor',
      {
        issues: parsed.success ? [] : zodIssues(parsed.error, ['inputs']),
      },
    );
  }
  // Once per request: a model's few inputs are searched, not mapped.
  const specs = signature?.inputs;
  const tensors: Record<string, Tensor> = {};
  for (const name in parsed.data) {
    if (!Object.hasOwn(parsed.data, name)) continue;
    let spec: InputSpec | undefined;
    for (const s of specs ?? []) if (s.name === name) spec = s;
    tensors[name] = toTensor(name, parsed.data[name], maxBytes, spec);
  }
  return tensors;
}

/** Whether a plain record has an own enumerable key. */
function hasKey(record: Record<string, unknown>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}

const IdempotencyKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, {
    message: '1-128 characters of A-Z, a-z, 0-9, "_", "." and "-"',
  })
  .refine((key) => !/^[0-9]+$/.test(key), {
    message: 'must not be all digits (BullMQ reserves those ids)',
  });

/** Who a job belongs to: an API key's name at the producer, any such name from the SDK. */
export const OwnerSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.@:-]{1,128}$/, { message: '1-128 characters of A-Z, a-z, 0-9, "_.@:-"' });

/** Options of `predict` and `enqueue`. */
export const PredictOptionsSchema = z
  .object({
    /**
     * A version ("2") or an alias ("canary"); default the `production` alias, which follows the
     * newest version a worker serves until it is set.
     */
    version: VersionRefSchema.optional(),
    /** Outputs to return, each once; default all. */
    outputs: z
      .array(TensorNameSchema)
      .min(1)
      .max(64)
      .refine((names) => new Set(names).size === names.length, {
        message: 'names an output more than once',
      })
      .optional(),
    /** How long `predict` waits for the result, in ms. Default from the client (30 000). */
    timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).optional(),
    /** Epoch ms (or a Date) after which a worker will not start the job. */
    deadline: z.union([z.date(), z.number().int().positive()]).optional(),
    /** BullMQ priority: 1 is the highest; absent means no priority (first in, first out). */
    priority: z.number().int().min(1).max(2_097_151).optional(),
    /**
     * Enqueueing twice with the same key and the same request gives the same job; the same key
     * with a different request is refused (ERR_IDEMPOTENCY_KEY_REUSED). Keys are scoped to `owner`.
     */
    idempotencyKey: IdempotencyKeySchema.optional(),
    /**
     * Who the job belongs to (the producer sets the API key's name): recorded in the job, and the
     * scope of its idempotency key, so two owners never share a job through a key.
     */
    owner: OwnerSchema.optional(),
    /**
     * W3C `traceparent` of the caller's span, which the job's spans then continue; default the
     * active OpenTelemetry span, if any. An invalid one is ignored (logged at debug), never
     * refused.
     */
    traceparent: z.string().optional(),
    /**
     * False: the prediction is never written to its model's prediction log, whatever its sample
     * rate (a replay's jobs, data that must not be kept). Default true.
     */
    log: z.boolean().optional(),
  })
  .strict();

export type PredictOptions = z.input<typeof PredictOptionsSchema>;
/** Predict options after validation (dates and defaults resolved by zod). */
export type ParsedPredictOptions = z.output<typeof PredictOptionsSchema>;
