import { z } from 'zod';
import { AlertsSchema, BaselineSchema } from '../drift/baseline.js';
import { DTYPES } from '../tensor/dtype.js';
import { ModelNameSchema, TensorNameSchema } from './names.js';
import { PredictionLogConfigSchema } from '../prediction-log.js';
import { PipelineSchema } from './processing-pipeline.js';
import { PostprocessSchema, PreprocessSchema } from './processing.js';

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
    /**
     * Learn, per model version, the batch size with the best measured rows per second (and
     * within the requests' deadlines) and join at most that many rows; `maxBatchSize` stays the
     * hard cap. Default true; false always joins up to `maxBatchSize`.
     */
    adaptive: z.boolean().default(true),
  })
  .strict();

export type BatchingConfig = z.infer<typeof BatchingConfigSchema>;

/**
 * An entry of model.json's `inputs` or `outputs`: names a tensor of the model and adds to or
 * narrows what onnxruntime reports. Every field but `name` is optional; a given `dtype` must be the
 * model's, a given `shape` must have the model's rank and may fix a dimension the model leaves
 * free.
 */
export const TensorOverrideSchema = z
  .object({
    /** The tensor's name exactly as onnxruntime reports it. */
    name: TensorNameSchema,
    /** Default: the model's dtype. */
    dtype: z.enum(DTYPES).optional(),
    /** Default: the model's shape; -1 marks a free dimension. */
    shape: z.array(DimSchema).max(16).optional(),
    /** Names of the last dimension's entries: class labels, or the features of named-feature rows. */
    labels: z.array(z.string().min(1)).optional(),
    description: z.string().optional(),
  })
  .strict();

export type TensorOverride = z.infer<typeof TensorOverrideSchema>;

/** One input of a warm-up sample: a concrete shape, and optionally its elements. */
export const WarmupInputSchema = z
  .object({
    /** Every dimension a positive size. */
    shape: z.array(z.number().int().min(1)).max(16),
    /** Elements, nested or flat in row-major order, in the input's dtype. Default: zeros. */
    data: z.array(z.unknown()).optional(),
  })
  .strict();

/**
 * What a version runs once on every inference thread before it is served. `dims` sizes the
 * model's symbolic dimensions by name (`{ "samples": 16000 }`); `inputs` gives whole inputs. An
 * input not in `inputs` is zeros, its free dimensions sized by `dims`, else 1.
 */
export const WarmupSampleSchema = z
  .object({
    dims: z.record(z.string().min(1), z.number().int().min(1)).optional(),
    inputs: z.record(TensorNameSchema, WarmupInputSchema).optional(),
  })
  .strict();

export type WarmupSample = z.infer<typeof WarmupSampleSchema>;

const NO_BATCHING: BatchingConfig = { maxBatchSize: 1, maxDelayMs: 0, adaptive: false };

/**
 * `models/<name>/<version>/model.json`: optional. The model's signature comes from onnxruntime;
 * this file only adds to it (descriptions, labels) or overrides how the version is run.
 */
export const ModelConfigSchema = z
  .object({
    /** Default: the model's folder name, which a given name must equal. */
    name: ModelNameSchema.optional(),
    description: z.string().optional(),
    /** The model's file inside its version folder. Default `model.onnx`. */
    file: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.onnx$/, { message: 'a plain file name ending in .onnx' })
      .default('model.onnx'),
    /** Entries for some or all of the model's inputs; the others are as onnxruntime reports them. */
    inputs: z.array(TensorOverrideSchema).default([]),
    outputs: z.array(TensorOverrideSchema).default([]),
    session: SessionConfigSchema.default(SessionConfigSchema.parse({})),
    /** Batching settings, or `false` to run one request per call. */
    batching: z
      .union([z.literal(false).transform(() => NO_BATCHING), BatchingConfigSchema])
      .default(BatchingConfigSchema.parse({})),
    /**
     * Inference threads of this model in each worker process. Default: INFERENCE_THREADS. 0 runs
     * it on the worker's main thread, which then stalls while it runs (for measurement only).
     */
    threads: z.number().int().min(0).max(64).optional(),
    /** Jobs of this model one worker process holds at once. Default: WORKER_CONCURRENCY. */
    concurrency: z.number().int().min(1).max(4096).optional(),
    /**
     * Run each thread once before serving: `true` (default) on zeros with free dimensions of 1,
     * a sample, or `false` for no warm-up run.
     */
    warmup: z.union([z.boolean(), WarmupSampleSchema]).default(true),
    /** Steps that turn what clients send into the model's inputs (docs/models.md). */
    preprocess: PreprocessSchema.optional(),
    /** Steps that turn the model's outputs into what clients get (docs/models.md). */
    postprocess: PostprocessSchema.optional(),
    /** Makes the version a pipeline of other models, with no .onnx file of its own (docs/models.md). */
    pipeline: PipelineSchema.optional(),
    /** The prediction log: `{ "sample": 0.1 }` logs a tenth of predictions (docs/lifecycle.md). */
    log: PredictionLogConfigSchema.optional(),
    /** The inputs' statistics in training, for drift (docs/models.md; `conveyor baseline`). */
    baseline: BaselineSchema.optional(),
    /** Drift and accuracy thresholds and the webhook called when they are crossed (docs/lifecycle.md). */
    alerts: AlertsSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.alerts?.driftPsi !== undefined && !config.baseline)
      ctx.addIssue({ code: 'custom', path: ['alerts', 'driftPsi'], message: 'needs a baseline' });
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

/** The states of a model version on a worker. */
export const VERSION_STATES = ['loading', 'ready', 'degraded', 'draining'] as const;

export type VersionState = (typeof VERSION_STATES)[number];

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
  /** The worker process that announced it (`host:pid:random`); absent from older workers. */
  worker: z.string().max(200).optional(),
  /**
   * `loading` (being loaded and warmed up), `ready`, `degraded` (its warm-up failed;
   * `stateReason` says why) or `draining` (removed: finishing what is queued, taking no new
   * jobs). Default ready. Only ready and degraded versions take new jobs.
   */
  state: z.enum(VERSION_STATES).optional(),
  stateReason: z.string().max(2000).optional(),
});

export type CatalogueEntry = z.infer<typeof CatalogueEntrySchema>;
