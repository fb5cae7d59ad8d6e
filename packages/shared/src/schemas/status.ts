/**
 * What Conveyor tells about itself while it runs: each worker's heartbeat record (the worker
 * registry) and the status of models, queues and workers read from Redis. The SDK reads both
 * (`client.workers()`, `client.status()`), the producer serves the status at `GET /v1/status`,
 * the dashboard draws it and `conveyor queues` prints it: one shape for all of them.
 */
import { z } from 'zod';
import { VERSION_STATES } from './model-config.js';
import { ModelNameSchema, ModelVersionSchema } from './names.js';
import { ModelAliasesSchema } from './aliases.js';

const count = z.number().int().nonnegative();
const seconds = z.number().nonnegative();

/** Latency percentiles over a recent window, in seconds; null until a job completed in it. */
export const LatencySummarySchema = z.object({
  p50: seconds,
  p95: seconds,
  p99: seconds,
});
export type LatencySummary = z.infer<typeof LatencySummarySchema>;

/** One model version as one worker holds it, in that worker's heartbeat. */
export const WorkerVersionSchema = z.object({
  model: ModelNameSchema,
  version: ModelVersionSchema,
  state: z.enum(VERSION_STATES),
  /** Jobs taken and not yet finished. */
  jobsActive: count,
  /** Since the worker started: jobs completed and failed (final failures, not retries). */
  completed: count,
  failed: count,
  /** Since the worker started: failed attempts (retried ones too) by error code. */
  failuresByCode: z.record(z.string(), count),
  /** Rows per onnxruntime call the batcher aims at now, and rows per second measured there. */
  batchTargetRows: count,
  rowsPerSecond: seconds,
  /**
   * Seconds of this worker's capacity one job takes, recently (1 / jobs per second this worker
   * sustains when busy); null until measured. The backlog is computed from it.
   */
  serviceSecondsPerJob: seconds.nullable(),
  /** End-to-end time (enqueue to result) of jobs completed recently; null when none. */
  latency: LatencySummarySchema.nullable(),
});
export type WorkerVersion = z.infer<typeof WorkerVersionSchema>;

export const WORKER_STATES = ['starting', 'ready', 'draining', 'stopping'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** A worker's heartbeat record in Redis; it disappears when the worker stops beating (a TTL). */
export const WorkerRecordSchema = z.object({
  /** The worker's id, as in the catalogue (`host:pid:random`). */
  id: z.string().min(1).max(256),
  host: z.string().max(256),
  pid: z.number().int().positive(),
  /** Conveyor's version of the worker (package version). */
  conveyorVersion: z.string().max(64),
  state: z.enum(WORKER_STATES),
  /** Epoch ms by the Redis server's clock. */
  startedAt: z.number(),
  beatAt: z.number(),
  versions: z.array(WorkerVersionSchema),
});
export type WorkerRecord = z.infer<typeof WorkerRecordSchema>;

/** The queue of one model version at one moment. */
export const QueueStatusSchema = z.object({
  model: ModelNameSchema,
  version: ModelVersionSchema,
  counts: z.object({
    waiting: count,
    prioritized: count,
    delayed: count,
    active: count,
    failed: count,
    completed: count,
  }),
  /** Age of the oldest job waiting (waiting or prioritized) to be taken; null when none waits. */
  oldestWaitingSeconds: seconds.nullable(),
  /** Live workers that serve this version now. */
  workers: count,
  /** Mean over those workers of their serviceSecondsPerJob; null when none measured one. */
  serviceSecondsPerJob: seconds.nullable(),
  /**
   * Seconds of work waiting: (waiting + prioritized) × serviceSecondsPerJob ÷ workers. With no
   * live worker it is null while jobs wait (no one will do them: infinite), 0 when none waits.
   */
  backlogSeconds: seconds.nullable(),
});
export type QueueStatus = z.infer<typeof QueueStatusSchema>;

/** One version of a model in the status: what the catalogue and the workers say of it. */
export const ModelVersionStatusSchema = z.object({
  version: ModelVersionSchema,
  /** The best state any live worker reports for it (ready over degraded over loading...). */
  state: z.enum(VERSION_STATES),
  /** Whether at least one live worker serves it (ready or degraded). */
  ready: z.boolean(),
  workers: count,
});

export const ModelStatusSchema = z.object({
  name: ModelNameSchema,
  versions: z.array(ModelVersionStatusSchema),
  aliases: ModelAliasesSchema,
});
export type ModelStatus = z.infer<typeof ModelStatusSchema>;

/** `GET /v1/status`, `client.status()`: everything at one moment, read from Redis. */
export const ConveyorStatusSchema = z.object({
  /** Epoch ms when it was read. */
  at: z.number(),
  models: z.array(ModelStatusSchema),
  queues: z.array(QueueStatusSchema),
  /** Live workers only (a dead one's record has expired or its beat is older than WORKER_SILENT_MS). */
  workers: z.array(WorkerRecordSchema),
  /** Failed attempts since the live workers started, by model, version and code (from the records). */
  failures: z.array(
    z.object({ model: ModelNameSchema, version: ModelVersionSchema, code: z.string(), count }),
  ),
});
export type ConveyorStatus = z.infer<typeof ConveyorStatusSchema>;
