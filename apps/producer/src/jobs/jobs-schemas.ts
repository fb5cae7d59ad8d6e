import { z } from 'zod';
import {
  JobIdSchema,
  MAX_RANK,
  ModelNameSchema,
  VersionRefSchema,
  PredictOptionsSchema,
  TensorNameSchema,
} from '@conveyor/shared';
import { InferOutputSchema, OipDatatypeSchema, ParametersSchema } from '../oip/schemas.js';

/**
 * Bodies of the asynchronous `/v1` job API. Tensors reuse the Open Inference Protocol datatypes
 * and output form of the `/v2` routes, so a client needs one tensor encoding for both.
 */

/** An http(s) URL the producer POSTs the job's outcome to (see webhooks/). */
export const CallbackUrlSchema = z
  .string()
  .max(2048)
  .url()
  // zod runs the refinement even when .url() failed: it must not throw on a non-URL.
  .refine((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), {
    message: 'callback_url must be an http or https URL',
  });

/**
 * One input: a protocol tensor whose name is its key (`{ shape, datatype, data }`, data flat or
 * nested as the shape says), or bare nested arrays of numbers read as FP32 with their own shape.
 */
export const JobTensorSchema = z.union([
  z
    .object({
      shape: z.array(z.number().int().nonnegative()).max(MAX_RANK),
      datatype: OipDatatypeSchema,
      parameters: ParametersSchema.optional(),
      data: z.array(z.unknown()),
    })
    .strict(),
  z.array(z.unknown()),
  // A bare value, for an input of shape [] (`"sr": 16000`).
  z.union([z.number(), z.boolean(), z.string()]),
]);

export const JobInputsSchema = z
  .record(TensorNameSchema, JobTensorSchema)
  .refine((inputs) => Object.keys(inputs).length > 0, { message: 'at least one input' })
  .refine((inputs) => Object.keys(inputs).length <= 64, { message: 'at most 64 inputs' });

export type JobInputs = z.infer<typeof JobInputsSchema>;

/** Options of a job (or of every job of a batch). */
export const JobParametersSchema = z
  .object({
    /** A version ("2") or an alias ("canary"); default the production alias. */
    version: VersionRefSchema.optional(),
    /** Output names to return; default all. */
    outputs: z.array(TensorNameSchema).min(1).max(64).optional(),
    /** BullMQ priority: 1 is the highest; absent is first in, first out. */
    priority: PredictOptionsSchema.shape.priority,
    /** After this instant (ISO 8601 with offset, or epoch ms) no worker starts the job. */
    deadline: z
      .union([z.iso.datetime({ offset: true }).transform((d) => Date.parse(d)), z.number()])
      .pipe(z.number().int().positive())
      .optional(),
    /** Where to POST the outcome when the job completes or fails. */
    callback_url: CallbackUrlSchema.optional(),
  })
  .strict();

export type JobParameters = z.infer<typeof JobParametersSchema>;

export const SubmitJobBodySchema = z
  .object({ inputs: JobInputsSchema, parameters: JobParametersSchema.optional() })
  .strict();

export type SubmitJobBody = z.infer<typeof SubmitJobBodySchema>;

export const IdempotencyKeySchema = PredictOptionsSchema.shape.idempotencyKey;

/** Headers are loose: every other header passes through untouched. */
export const SubmitJobHeadersSchema = z.looseObject({ 'idempotency-key': IdempotencyKeySchema });

export const ModelParamsSchema = z.object({ name: ModelNameSchema }).strict();

export const JobParamsSchema = z.object({ id: JobIdSchema }).strict();

export const SubmitJobResponseSchema = z
  .object({
    job_id: z.string(),
    model: z.string(),
    status_url: z.string(),
    result_url: z.string(),
    events_url: z.string(),
  })
  .strict();

/** BullMQ's job states; `unknown` never reaches a response (it is a 404). */
export const JobStateSchema = z.enum([
  'waiting',
  'prioritized',
  'delayed',
  'active',
  'completed',
  'failed',
  'waiting-children',
]);

export type JobStateName = z.infer<typeof JobStateSchema>;

export const JobErrorSchema = z
  .object({
    code: z.string(),
    message: z.string(),
    /** The details the code's catalogue entry exposes (ERR_RECORD_FIELD's `fields`), bounded. */
    details: z.record(z.string(), z.json()).optional(),
    /** A validation failure's `{ path, message }` pairs. */
    issues: z.array(z.object({ path: z.string(), message: z.string() }).strict()).optional(),
  })
  .strict();

export type JobError = z.infer<typeof JobErrorSchema>;

export const JobStatusSchema = z
  .object({
    job_id: z.string(),
    model: z.string(),
    state: JobStateSchema,
    /** What the worker last reported with updateProgress; 0 until then. */
    progress: z.json(),
    /** Attempts that ended, and the most the job gets. */
    attempts_made: z.number().int().nonnegative(),
    attempts_max: z.number().int().positive(),
    queued_at: z.string(),
    started_at: z.string().optional(),
    finished_at: z.string().optional(),
    /** ms from enqueue until a worker took the job (its last attempt). */
    queued_ms: z.number().nonnegative().optional(),
    /** ms of inference on the worker; completed jobs only. */
    inference_ms: z.number().nonnegative().optional(),
    model_version: z.string().optional(),
    error: JobErrorSchema.optional(),
  })
  .strict();

export type JobStatusBody = z.infer<typeof JobStatusSchema>;

export const JobResultBodySchema = z
  .object({
    job_id: z.string(),
    model_name: z.string(),
    model_version: z.string(),
    outputs: z.array(InferOutputSchema),
    timings: z
      .object({ queued_ms: z.number().nonnegative(), inference_ms: z.number().nonnegative() })
      .strict(),
  })
  .strict();

export type JobResultBody = z.infer<typeof JobResultBodySchema>;

/** The answer of `/result` while the job has not finished. */
export const JobPendingSchema = z.object({ job_id: z.string(), state: JobStateSchema }).strict();

/** How a job ended: the body of a webhook delivery, and of the last event of a job's stream. */
export const JobOutcomeSchema = z.discriminatedUnion('status', [
  z
    .object({
      job_id: z.string(),
      model: z.string(),
      status: z.literal('completed'),
      result: JobResultBodySchema,
    })
    .strict(),
  z
    .object({
      job_id: z.string(),
      model: z.string(),
      status: z.literal('failed'),
      error: JobErrorSchema.extend({ status: z.number().int() }).strict(),
    })
    .strict(),
]);

export type JobOutcome = z.infer<typeof JobOutcomeSchema>;

/** Longest `?wait=` of the result route, in seconds. */
export const MAX_WAIT_S = 300;

export const ResultQuerySchema = z
  .object({
    wait: z.coerce.number().min(0).max(MAX_WAIT_S).optional(),
  })
  .strict();
