import { z } from 'zod';
import { JobIdSchema } from '../naming.js';
import { BlobTensorSchema, StoredTensorSchema, WireTensorSchema } from '../tensor/codec.js';
import { ModelNameSchema, ModelVersionSchema, TensorNameSchema } from './names.js';

/** Job payload format version, bumped on an incompatible change. */
export const JOB_PAYLOAD_VERSION = 1;

const tensorMap = <T extends z.ZodType>(value: T) =>
  z
    .record(TensorNameSchema, value)
    .refine((map) => Object.keys(map).length > 0, { message: 'at least one tensor' })
    .refine((map) => Object.keys(map).length <= 64, { message: 'at most 64 tensors' });

/**
 * A result's outputs: small ones inline in base64, large ones as raw bytes stored once in the
 * job's own hash (see RESULT_FIELD), so they go when BullMQ removes the job.
 */
const OutputMapSchema = tensorMap(z.union([WireTensorSchema, StoredTensorSchema]));

/** What a producer puts on a model's queue; what a worker reads (and re-validates) from Redis. */
export const JobPayloadSchema = z
  .object({
    v: z.literal(JOB_PAYLOAD_VERSION),
    model: ModelNameSchema,
    /** Absent: the newest version the worker serves. */
    version: ModelVersionSchema.optional(),
    /** Inline in base64, or (large ones) stored as raw bytes beside the job: see BlobTensorSchema. */
    inputs: tensorMap(z.union([WireTensorSchema, BlobTensorSchema])),
    /** Output names to return; absent: all of them. */
    outputs: z.array(TensorNameSchema).min(1).max(64).optional(),
    /** Epoch milliseconds after which the job is not run. */
    deadline: z.number().int().positive().optional(),
    /** Who enqueued it (an API key's name at the producer); absent: nobody in particular. */
    owner: z.string().min(1).max(128).optional(),
    /** The id of this job's shadow copy: its worker keeps the outputs for the comparison. */
    shadowedBy: JobIdSchema.optional(),
    /** Set on a shadow copy: the serving job it copies; its answer is compared, never returned. */
    shadowOf: JobIdSchema.optional(),
    /** Never written to the prediction log (the caller's `log: false`). */
    unlogged: z.literal(true).optional(),
  })
  .strict();

export type JobPayload = z.infer<typeof JobPayloadSchema>;

/** What a worker returns for a completed job (BullMQ's return value). */
export const JobResultSchema = z
  .object({
    v: z.literal(JOB_PAYLOAD_VERSION),
    model: ModelNameSchema,
    version: ModelVersionSchema,
    outputs: OutputMapSchema,
    timings: z
      .object({
        /** Milliseconds from enqueue to the worker taking the job. */
        queuedMs: z.number().nonnegative(),
        /**
         * Milliseconds of engine.predict on the worker: signature check, wait for a free inference
         * thread, the hop to it and the run.
         */
        inferenceMs: z.number().nonnegative(),
        /** Milliseconds onnxruntime spent in run() for the batch this job ran in. */
        runMs: z.number().nonnegative().optional(),
        /** Rows of the onnxruntime call this job ran in (more than its own when batched). */
        batchRows: z.number().int().nonnegative().optional(),
      })
      .strict(),
  })
  .strict();

export type JobResult = z.infer<typeof JobResultSchema>;
