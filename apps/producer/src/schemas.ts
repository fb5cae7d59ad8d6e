import { z } from 'zod';
import {
  MAX_RANK,
  ModelNameSchema,
  ModelVersionSchema,
  TensorNameSchema,
  type Dtype,
} from '@conveyor/shared';

/**
 * Open Inference Protocol (KServe v2) REST bodies the producer speaks. They live here until a
 * second user needs them; then they move to `@conveyor/shared`.
 */

/** Every datatype the protocol names, including the ones Conveyor does not carry yet. */
export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

export const OipDatatypeSchema = z.enum(OIP_DATATYPES);

export type OipDatatype = z.infer<typeof OipDatatypeSchema>;

/** The protocol datatype of each Conveyor dtype; `float16` only ever appears in responses. */
export const DTYPE_TO_OIP: { readonly [D in Dtype]: OipDatatype } = Object.freeze({
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
});

/** The Conveyor dtype of each request datatype; the missing ones are refused as not supported yet. */
export const OIP_TO_DTYPE: Readonly<Partial<Record<OipDatatype, Dtype>>> = Object.freeze({
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP32: 'float32',
  FP64: 'float64',
});

/** A wait in ms, as `parameters.timeout` or the `Conveyor-Timeout-Ms` header; the SDK's own cap. */
export const TimeoutMsSchema = z.number().int().positive().max(86_400_000);

/** Protocol `$parameters`: names with string, number or boolean values. */
export const ParametersSchema = z.record(
  z.string().min(1).max(256),
  z.union([z.string(), z.number(), z.boolean()]),
);

/**
 * One input tensor. `data` is checked element by element (type, count, nesting against `shape`)
 * by `toSdkInputs`, in one pass, rather than by a per-element zod schema that costs far more on
 * megabyte tensors.
 */
export const InferInputSchema = z
  .object({
    name: TensorNameSchema,
    shape: z.array(z.number().int().nonnegative()).max(MAX_RANK),
    datatype: OipDatatypeSchema,
    parameters: ParametersSchema.optional(),
    data: z.array(z.unknown()),
  })
  .strict();

export type InferInput = z.infer<typeof InferInputSchema>;

export const InferRequestSchema = z
  .object({
    /** Echoed in the response; the job id is used when absent. */
    id: z.string().max(256).optional(),
    parameters: z
      .object({ timeout: TimeoutMsSchema.optional() })
      .catchall(z.union([z.string(), z.number(), z.boolean()]))
      .optional(),
    inputs: z.array(InferInputSchema).min(1).max(64),
    /** Outputs to return; default all. */
    outputs: z
      .array(z.object({ name: TensorNameSchema, parameters: ParametersSchema.optional() }).strict())
      .min(1)
      .max(64)
      .optional(),
  })
  .strict();

export type InferRequest = z.infer<typeof InferRequestSchema>;

/** Path parameters of both infer routes; `version` only exists on the versioned one. */
export const InferParamsSchema = z
  .object({ name: ModelNameSchema, version: ModelVersionSchema.optional() })
  .strict();

/** Headers are loose: every other header must pass through untouched. */
export const InferHeadersSchema = z.looseObject({
  'conveyor-timeout-ms': z
    .string()
    .regex(/^[0-9]{1,9}$/, { message: 'a whole number of milliseconds' })
    .transform(Number)
    .pipe(TimeoutMsSchema)
    .optional(),
});

/**
 * An output element: a number, a boolean for BOOL, or a string where JSON numbers cannot carry
 * the value (64-bit integers beyond 2^53, and "NaN", "Infinity", "-Infinity" as in proto3 JSON).
 */
export const OutputElementSchema = z.union([z.number(), z.boolean(), z.string()]);

export const InferOutputSchema = z
  .object({
    name: TensorNameSchema,
    shape: z.array(z.number().int().nonnegative()),
    datatype: OipDatatypeSchema,
    data: z.array(OutputElementSchema),
  })
  .strict();

export type InferOutput = z.infer<typeof InferOutputSchema>;

export const InferResponseSchema = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string(),
    outputs: z.array(InferOutputSchema),
  })
  .strict();

export type InferResponse = z.infer<typeof InferResponseSchema>;

export { ErrorBodySchema, type ErrorBody } from '@conveyor/shared';

export const LiveResponseSchema = z.object({ live: z.literal(true) }).strict();

export const ReadyResponseSchema = z.object({ ready: z.literal(true) }).strict();

export const NotReadyResponseSchema = z
  .object({ ready: z.literal(false), reason: z.string() })
  .strict();
