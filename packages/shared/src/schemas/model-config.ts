import { z } from 'zod';
import { DTYPES } from '../tensor/dtype.js';
import { ModelNameSchema, TensorNameSchema } from './names.js';

/** A dimension: a positive size, or -1 for any size (the batch dimension, for instance). */
export const DimSchema = z
  .number()
  .int()
  .min(-1)
  .refine((d) => d !== 0, { message: 'a dimension is -1 or positive' });

export const TensorSpecSchema = z
  .object({
    /** The tensor's name exactly as onnxruntime reports it. */
    name: TensorNameSchema,
    dtype: z.enum(DTYPES),
    /** Dimensions; -1 marks a free one. May fix a dimension the model leaves free. */
    shape: z.array(DimSchema).max(16),
    /** Optional names of the last dimension's entries, e.g. class labels. */
    labels: z.array(z.string().min(1)).optional(),
    description: z.string().optional(),
  })
  .strict();

export type TensorSpec = z.infer<typeof TensorSpecSchema>;

/** onnxruntime session options a model may set; every field is optional with the default shown. */
export const SessionConfigSchema = z
  .object({
    /** Threads inside one operator. Default 1: the worker runs sessions on its own threads. */
    intraOpNumThreads: z.number().int().min(0).max(64).default(1),
    /** Threads across operators (parallel execution mode only). Default 1. */
    interOpNumThreads: z.number().int().min(0).max(64).default(1),
    executionMode: z.enum(['sequential', 'parallel']).default('sequential'),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  })
  .strict();

export type SessionConfig = z.infer<typeof SessionConfigSchema>;

/**
 * Dynamic batching: requests for one model version that arrive while its inference threads are
 * busy are joined along the first (batch) dimension into one onnxruntime call. Only models whose
 * inputs and outputs all have a free first dimension are batched; the others run one by one.
 */
export const BatchingConfigSchema = z
  .object({
    /** Most rows in one onnxruntime call. 1 turns batching off. */
    maxBatchSize: z.number().int().min(1).max(4096).default(32),
    /**
     * How long a request may wait for others to join it while an inference thread is free.
     * 0 (the default) runs at once when a thread is free, so a batch only forms from what
     * arrived while the threads were busy: no added latency at low load.
     */
    maxDelayMs: z.number().min(0).max(1000).default(0),
  })
  .strict();

export type BatchingConfig = z.infer<typeof BatchingConfigSchema>;

/** `models/<name>/<version>/model.json`: what the model is and how to run it. */
export const ModelConfigSchema = z
  .object({
    name: ModelNameSchema,
    description: z.string().optional(),
    /** The model's file inside its version folder. Default `model.onnx`. */
    file: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.onnx$/, { message: 'a plain file name ending in .onnx' })
      .default('model.onnx'),
    inputs: z.array(TensorSpecSchema).min(1),
    outputs: z.array(TensorSpecSchema).min(1),
    session: SessionConfigSchema.default(SessionConfigSchema.parse({})),
    batching: BatchingConfigSchema.default(BatchingConfigSchema.parse({})),
    /**
     * Inference threads of this model in each worker process. Default: INFERENCE_THREADS. 0 runs
     * it on the worker's main thread, which then stalls while it runs (for measurement only).
     */
    threads: z.number().int().min(0).max(64).optional(),
    /** Jobs of this model one worker process holds at once. Default: WORKER_CONCURRENCY. */
    concurrency: z.number().int().min(1).max(4096).optional(),
    /** Run each session once on a synthetic input before serving. Default true. */
    warmup: z.boolean().default(true),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const key of ['inputs', 'outputs'] as const) {
      const seen = new Set<string>();
      config[key].forEach((spec, index) => {
        if (seen.has(spec.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [key, index, 'name'],
            message: `duplicate name "${spec.name}"`,
          });
        }
        seen.add(spec.name);
      });
    }
  });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type ModelConfigInput = z.input<typeof ModelConfigSchema>;

/** What a worker publishes about a model it serves, and what clients check requests against. */
export const ModelSignatureSchema = z
  .object({
    name: ModelNameSchema,
    version: z.string(),
    inputs: z.array(TensorSpecSchema),
    outputs: z.array(TensorSpecSchema),
  })
  .strict();

export type ModelSignature = z.infer<typeof ModelSignatureSchema>;

/**
 * One field of the catalogue hash: a signature and when a worker last announced it (epoch ms).
 * An entry without `announcedAt` (written by hand, or by an older worker) never expires.
 */
export const CatalogueEntrySchema = ModelSignatureSchema.extend({
  announcedAt: z.number().int().nonnegative().optional(),
});

export type CatalogueEntry = z.infer<typeof CatalogueEntrySchema>;
