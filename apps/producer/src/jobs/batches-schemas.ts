import { z } from 'zod';
import {
  IdempotencyKeySchema,
  JobErrorSchema,
  JobInputsSchema,
  JobParametersSchema,
  JobResultBodySchema,
  JobStateSchema,
} from './jobs-schemas.js';

/** One job of a batch: its inputs and, optionally, its own idempotency key. */
export const BatchItemSchema = z
  .object({ inputs: JobInputsSchema, idempotency_key: IdempotencyKeySchema })
  .strict();

export type BatchItem = z.infer<typeof BatchItemSchema>;

/** A JSON batch; an NDJSON batch has one item per line and its parameters in the query string. */
export const BatchBodySchema = z
  .object({ items: z.array(z.unknown()), parameters: JobParametersSchema.optional() })
  .strict();

/** Parameters of an NDJSON batch, from the query string (`outputs` comma-separated). */
export const BatchQuerySchema = z
  .object({
    version: z.string().optional(),
    outputs: z
      .string()
      .transform((list) => list.split(',').filter(Boolean))
      .optional(),
    priority: z.coerce.number().optional(),
    deadline: z
      .string()
      .transform((value) => (/^[0-9]+$/.test(value) ? Number(value) : value))
      .optional(),
    callback_url: z.string().optional(),
  })
  .strict();

export const BatchIdSchema = z
  .string()
  .regex(/^b-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
    message: 'batch ids look like "b-<uuid>", as jobs:batch returned them',
  });

export const BatchParamsSchema = z.object({ id: BatchIdSchema }).strict();

export const BatchCreatedSchema = z
  .object({
    batch_id: z.string(),
    model: z.string(),
    count: z.number().int().positive(),
    /** In the order of the items. */
    job_ids: z.array(z.string()),
    status_url: z.string(),
    results_url: z.string(),
  })
  .strict();

const STATES = [...JobStateSchema.options, 'unknown'] as const;

export const BatchStatusSchema = z
  .object({
    batch_id: z.string(),
    total: z.number().int().nonnegative(),
    /** Jobs per state; `unknown` counts jobs cancelled or trimmed. */
    counts: z.record(z.enum(STATES), z.number().int().nonnegative()),
    /** True when no job waits or runs any more. */
    finished: z.boolean(),
  })
  .strict();

export type BatchStatus = z.infer<typeof BatchStatusSchema>;

/** Longest wait of a results stream, in seconds. */
export const MAX_BATCH_WAIT_S = 3600;

export const BatchResultsQuerySchema = z
  .object({
    order: z.enum(['input', 'completion']).default('input'),
    /** How long the stream waits for unfinished jobs, in seconds. */
    wait: z.coerce.number().min(0).max(MAX_BATCH_WAIT_S).default(300),
  })
  .strict();

/** One line of a results stream. */
export const BatchResultLineSchema = z
  .object({
    job_id: z.string(),
    index: z.number().int().nonnegative(),
    /** A finished state, or the state the job was in when the stream stopped waiting. */
    status: z.enum(STATES),
    model_version: z.string().optional(),
    outputs: JobResultBodySchema.shape.outputs.optional(),
    timings: JobResultBodySchema.shape.timings.optional(),
    error: JobErrorSchema.extend({ status: z.number().int() }).strict().optional(),
  })
  .strict();

export type BatchResultLine = z.infer<typeof BatchResultLineSchema>;
