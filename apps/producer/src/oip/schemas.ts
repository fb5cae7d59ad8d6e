import { z } from 'zod';
import {
  MAX_RANK,
  ModelNameSchema,
  VersionRefSchema,
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

/** The protocol datatype of each Conveyor dtype. */
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
  string: 'BYTES',
  bytes: 'BYTES',
});

/** The Conveyor dtype of each request datatype. */
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
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
});

/** A wait in ms, as the `Conveyor-Timeout-Ms` header; the SDK's own cap. */
export const TimeoutMsSchema = z.number().int().positive().max(86_400_000);

/** The longest `parameters.timeout`, in µs: 24 h, the SDK's own cap. */
export const MAX_TIMEOUT_US = 86_400_000_000;

/**
 * `parameters.timeout`: Triton's schedule-policy timeout, in microseconds, as tritonclient sends
 * it; the wait is rounded up to whole milliseconds.
 */
export const TimeoutUsSchema = z
  .number()
  .int({ message: 'a whole number of microseconds' })
  .positive({ message: 'a whole number of microseconds, at least 1' })
  .max(MAX_TIMEOUT_US, { message: `at most ${MAX_TIMEOUT_US} microseconds (24 h)` });

/** The largest `parameters.priority`: BullMQ's lowest priority plus one (see `sdkPriority`). */
export const MAX_PRIORITY_LEVEL = 2_097_152;

/**
 * `parameters.priority` with Triton's meaning: lower is more urgent, 0 is the default level, which
 * is level 1 in Conveyor (see `sdkPriority`).
 */
export const PrioritySchema = z
  .number()
  .int({ message: 'a whole number' })
  .nonnegative({ message: 'an unsigned integer: 0 (the default) or 1 (most urgent) and up' })
  .max(MAX_PRIORITY_LEVEL, { message: `at most ${MAX_PRIORITY_LEVEL}` });

const ParameterValueSchema = z.union([z.string(), z.number(), z.boolean()]);

/** Protocol `$parameters`: names with string, number or boolean values. */
export const ParametersSchema = z.record(z.string().min(1).max(256), ParameterValueSchema);

/** Largest `binary_data_size` of an input. */
export const MAX_BINARY_DATA_SIZE = 2 ** 31 - 1;

/** A byte count of the binary tensor data extension. */
const BinaryDataSizeSchema = z.number().int().nonnegative().max(MAX_BINARY_DATA_SIZE);

/**
 * One input tensor: JSON `data`, or `parameters.binary_data_size` bytes of the binary part of the
 * body (binary tensor data extension). `data` is checked element by element (type, count, nesting
 * against `shape`) by `toSdkInputs`, in one pass, rather than by a per-element zod schema that
 * costs far more on megabyte tensors.
 */
export const InferInputSchema = z
  .object({
    name: TensorNameSchema,
    shape: z.array(z.number().int().nonnegative()).max(MAX_RANK),
    datatype: OipDatatypeSchema,
    parameters: z
      .object({ binary_data_size: BinaryDataSizeSchema.optional() })
      .catchall(ParameterValueSchema)
      .optional(),
    // An array, checked here without walking it: z.array would visit (and copy) every element
    // of a large tensor before toSdkInputs checks them anyway. The meta keeps OpenAPI's type.
    data: z
      .custom<unknown[]>((value) => Array.isArray(value), { message: 'expected an array' })
      .meta({ type: 'array', items: {}, description: 'the elements, flat in row-major order' })
      .optional(),
  })
  .strict()
  .refine(
    (input) => (input.data === undefined) !== (input.parameters?.binary_data_size === undefined),
    {
      message: 'an input has either data or parameters.binary_data_size, not both or neither',
    },
  );

export type InferInput = z.infer<typeof InferInputSchema>;

export const InferRequestSchema = z
  .object({
    /** Echoed in the response; absent there when absent here (the job id is a header). */
    id: z.string().max(256).optional(),
    parameters: z
      .object({
        timeout: TimeoutUsSchema.optional(),
        priority: PrioritySchema.optional(),
        /** Binary tensor data extension: every output in binary unless it says otherwise. */
        binary_data_output: z.boolean().optional(),
      })
      .catchall(ParameterValueSchema)
      .optional(),
    inputs: z.array(InferInputSchema).min(1).max(64),
    /** Outputs to return; default all. */
    outputs: z
      .array(
        z
          .object({
            name: TensorNameSchema,
            parameters: z
              .object({ binary_data: z.boolean().optional() })
              .catchall(ParameterValueSchema)
              .optional(),
          })
          .strict(),
      )
      .min(1)
      .max(64)
      .optional(),
  })
  .strict();

export type InferRequest = z.infer<typeof InferRequestSchema>;

/**
 * Path parameters of the model routes; `version` only exists on the versioned ones, and may name
 * an alias (`/v2/models/iris/versions/canary/infer`).
 */
export const ModelParamsSchema = z
  .object({ name: ModelNameSchema, version: VersionRefSchema.optional() })
  .strict();

/** `Inference-Header-Content-Length`: a byte count, as digits. */
export const BYTE_COUNT = /^[0-9]{1,10}$/;

/** Headers are loose: every other header must pass through untouched. */
export const InferHeadersSchema = z.looseObject({
  'conveyor-timeout-ms': z
    .string()
    .regex(/^[0-9]{1,9}$/, { message: 'a whole number of milliseconds' })
    .transform(Number)
    .pipe(TimeoutMsSchema)
    .optional(),
  /**
   * Binary tensor data extension: the byte length of the JSON header that starts the body (read as
   * a number by the body's parser, which runs before this check).
   */
  'inference-header-content-length': z
    .string()
    .regex(BYTE_COUNT, { message: 'a byte count' })
    .optional(),
  /**
   * RFC 7240 preferences: `respond-async` and `wait=<seconds>` are honoured, others ignored (as the
   * docs say), whatever the header's length: Node's header size limit (431) bounds it.
   */
  prefer: z.string().optional(),
});

/**
 * An output element: a number, a boolean for BOOL, or a string where JSON numbers cannot carry
 * the value (64-bit integers beyond 2^53, and "NaN", "Infinity", "-Infinity" as in proto3 JSON).
 */
export const OutputElementSchema = z.union([z.number(), z.boolean(), z.string()]);

/** An output tensor with its elements as flat row-major JSON `data`. */
export const InferOutputSchema = z
  .object({
    name: TensorNameSchema,
    shape: z.array(z.number().int().nonnegative()),
    datatype: OipDatatypeSchema,
    data: z.array(OutputElementSchema),
  })
  .strict();

export type InferOutput = z.infer<typeof InferOutputSchema>;

/** An output tensor of the binary extension: its bytes follow the JSON header, in output order. */
export const BinaryOutputSchema = z
  .object({
    name: TensorNameSchema,
    shape: z.array(z.number().int().nonnegative()),
    datatype: OipDatatypeSchema,
    parameters: z.object({ binary_data_size: BinaryDataSizeSchema }).strict(),
  })
  .strict();

export type BinaryOutput = z.infer<typeof BinaryOutputSchema>;

export const InferResponseSchema = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    outputs: z.array(InferOutputSchema),
  })
  .strict();

export type InferResponse = z.infer<typeof InferResponseSchema>;

/** The JSON header of a response of the binary extension: outputs in JSON or in binary. */
export const BinaryInferResponseSchema = InferResponseSchema.extend({
  outputs: z.array(z.union([InferOutputSchema, BinaryOutputSchema])),
});

export type BinaryInferResponse = z.infer<typeof BinaryInferResponseSchema>;

/** 202 to `Prefer: respond-async` (or a `wait` that ran out): where the result will be. */
export const InferAcceptedSchema = z
  .object({ job_id: z.string(), status_url: z.string() })
  .strict();

export type InferAccepted = z.infer<typeof InferAcceptedSchema>;

/** `GET /v2`: the server metadata of the protocol. */
export const ServerMetadataSchema = z
  .object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) })
  .strict();

/** One tensor of a model's metadata; -1 marks a dimension of any size. */
export const MetadataTensorSchema = z
  .object({ name: z.string(), datatype: OipDatatypeSchema, shape: z.array(z.number().int()) })
  .strict();

/** `GET /v2/models/{name}[/versions/{version}]`: the model metadata of the protocol. */
export const ModelMetadataSchema = z
  .object({
    name: z.string(),
    /** Every announced version, oldest first; only the asked one on the versioned route. */
    versions: z.array(z.string()),
    platform: z.string(),
    inputs: z.array(MetadataTensorSchema),
    outputs: z.array(MetadataTensorSchema),
  })
  .strict();

export type ModelMetadata = z.infer<typeof ModelMetadataSchema>;

/** `GET /v2/models/{name}[/versions/{version}]/ready`: 200 when ready, 400 when not. */
export const ModelReadySchema = z
  .object({ name: z.string(), ready: z.boolean(), reason: z.string().optional() })
  .strict();

export { ErrorBodySchema, type ErrorBody } from '@conveyor/shared';

export const LiveResponseSchema = z.object({ live: z.literal(true) }).strict();

export const ReadyResponseSchema = z.object({ ready: z.literal(true) }).strict();

export const NotReadyResponseSchema = z
  .object({ ready: z.literal(false), reason: z.string() })
  .strict();

/** One tensor of Triton's model configuration: `data_type` is `TYPE_` and the datatype. */
export const ConfigTensorSchema = z
  .object({ name: z.string(), data_type: z.string(), dims: z.array(z.number().int()) })
  .strict();

/** `GET /v2/models/{name}[/versions/{version}]/config`: Triton's model configuration extension. */
export const ModelConfigSchema = z
  .object({
    name: z.string(),
    platform: z.string(),
    backend: z.string(),
    /** 0: `dims` are whole shapes (-1 a free dimension), with no batch dimension implied. */
    max_batch_size: z.number().int(),
    input: z.array(ConfigTensorSchema),
    output: z.array(ConfigTensorSchema),
  })
  .strict();

export type ModelConfig = z.infer<typeof ModelConfigSchema>;

const DurationStatSchema = z
  .object({ count: z.number().int().nonnegative(), ns: z.number().int().nonnegative() })
  .strict();

/** One model version's statistics (Triton's statistics extension, `$model_stat`). */
export const ModelStatSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    last_inference: z.number().int().nonnegative(),
    inference_count: z.number().int().nonnegative(),
    execution_count: z.number().int().nonnegative(),
    inference_stats: z
      .object({
        success: DurationStatSchema,
        fail: DurationStatSchema,
        queue: DurationStatSchema,
        compute_input: DurationStatSchema,
        compute_infer: DurationStatSchema,
        compute_output: DurationStatSchema,
        cache_hit: DurationStatSchema,
        cache_miss: DurationStatSchema,
      })
      .strict(),
    batch_stats: z.array(z.never()),
    memory_usage: z.array(z.never()),
  })
  .strict();

/** `GET /v2/models/{name}[/versions/{version}]/stats`: one entry per version, oldest first. */
export const ModelStatsResponseSchema = z
  .object({ model_stats: z.array(ModelStatSchema) })
  .strict();

export type ModelStatsResponse = z.infer<typeof ModelStatsResponseSchema>;
