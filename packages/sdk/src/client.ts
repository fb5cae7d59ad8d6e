import {
  PredictOptionsSchema,
  type AccuracyQuery,
  type ConveyorError,
  type ConveyorStatus,
  type DriftReport,
  type Feedback,
  type FeedbackReceipt,
  type LoggedPrediction,
  type ModelAccuracy,
  type ModelSignature,
  type PredictOptions,
  type Tensor,
  type VersionState,
  type WorkerRecord,
} from '@conveyor/shared';
import { z } from 'zod';
import type { ComparisonReport, ModelAliases } from '@conveyor/shared';
import type { CompareOptions } from './comparisons.js';
import type { ReplayOptions, ReplayProgress } from './replay.js';
import type { DriftQuery } from './drift.js';
import type { FeedbackOptions } from './feedback.js';
import type { PredictionLogQuery } from './prediction-log.js';
import type { InputsOf, ModelRef, OutputName, OutputsOf } from './typed-model.js';

/** Options shared by every job of an enqueueMany call: all of predict's but the idempotency key. */
export const BulkOptionsSchema = PredictOptionsSchema.omit({ idempotencyKey: true });
export type BulkOptions = z.input<typeof BulkOptionsSchema>;

/** What enqueueMany reads of each item besides its inputs. */
export const BulkItemOptionsSchema = z.object({
  inputs: z.unknown(),
  idempotencyKey: PredictOptionsSchema.shape.idempotencyKey,
});

/**
 * Options of predictMany: those of every job, plus how many run at once and in which order results
 * come.
 */
export const PredictManyOptionsSchema = BulkOptionsSchema.extend({
  /** Yield results in the order of the items (true), or as they finish (false, the default). */
  ordered: z.boolean().default(false),
  /**
   * Items in flight at once: enqueued and not yet yielded. Bounds memory for endless inputs.
   * Default 64.
   */
  concurrency: z.number().int().min(1).max(10_000).default(64),
  /**
   * Gives item i the idempotency key `<prefix>.<i>`, so that running the same items again
   * returns the jobs of the first run instead of new ones.
   */
  idempotencyKeyPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/)
    .optional(),
  /**
   * Packs consecutive items whose inputs have a first (batch) dimension into one job of many rows
   * (each item still gets its own result, outputs and error). `'auto'` (default) stops packing when
   * the model turns out not to take packs; `true` keeps trying; `false` sends one job per item.
   */
  pack: z.union([z.boolean(), z.literal('auto')]).default('auto'),
}).strict();

/** predict's options; for a typed model, `outputs` only takes its declared output names. */
export type PredictOptionsFor<M extends ModelRef, K extends string = OutputName<M>> = Omit<
  PredictOptions,
  'outputs'
> & {
  /** Outputs to return; default all (all declared ones for a typed model). */
  outputs?: readonly K[] | undefined;
};
export type BulkOptionsFor<M extends ModelRef, K extends string = OutputName<M>> = Omit<
  PredictOptionsFor<M, K>,
  'idempotencyKey'
>;
export type PredictManyOptions<
  M extends ModelRef = string,
  K extends string = OutputName<M>,
> = BulkOptionsFor<M, K> &
  Partial<
    Pick<
      z.input<typeof PredictManyOptionsSchema>,
      'ordered' | 'concurrency' | 'idempotencyKeyPrefix' | 'pack'
    >
  >;

/** One job of an enqueueMany call. */
export interface BulkItem<M extends ModelRef = string> {
  inputs: InputsOf<M>;
  /** Enqueueing the same key twice gives the same job, as with enqueue. */
  idempotencyKey?: string;
}

/** An announced model version and how many workers serve its model now. */
export type ModelInfo = ModelSignature & {
  /** Live worker processes serving this version (the embedded client says 1). */
  workers: number;
  /** The best state a worker serving it reports (see AnnouncedVersion). */
  state: VersionState;
  /** Why it is degraded (onnxruntime's message and a hint). */
  stateReason?: string;
};

/** Output tensors by name. */
export type Outputs = Record<string, Tensor>;

/** A finished prediction. */
export interface Prediction<O extends object = Outputs> {
  jobId: string;
  model: string;
  version: string;
  outputs: O;
  timings: {
    /** ms from enqueue until a worker (or the embedded engine) took the job. */
    queuedMs: number;
    /** ms of inference, from handing the inputs to the engine to having the outputs. */
    inferenceMs: number;
    /** ms onnxruntime spent in run() for the batch the job ran in, where known. */
    runMs?: number | undefined;
    /** Rows of the onnxruntime call the job ran in, where known. */
    batchRows?: number | undefined;
  };
}

/** One result of predictMany: its item's index and the prediction, or the item's error. */
export type PredictManyResult<O extends object = Outputs> =
  | { index: number; ok: true; prediction: Prediction<O> }
  | { index: number; ok: false; error: ConveyorError };

/** Where a job is: BullMQ's states, plus `unknown` for an id Redis does not know. */
export type JobState =
  | 'waiting'
  | 'prioritized'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'failed'
  | 'waiting-children'
  | 'unknown';

export interface JobStatus {
  id: string;
  model: string;
  state: JobState;
  /** Attempts that ended (failed or completed). */
  attemptsMade: number;
  /** Epoch ms. */
  enqueuedAt?: number;
  startedAt?: number;
  finishedAt?: number;
  /**
   * The failure of a failed job, with the details its code's catalogue entry exposes (bounded;
   * `truncated: true` when cut), when there are any.
   */
  error?: {
    code: string;
    message: string;
    details?: Record<string, unknown>;
    /** A validation failure's `{ path, message }` pairs (ERR_PAYLOAD_INVALID, ERR_VALIDATION). */
    issues?: { path: string; message: string }[];
  };
}

/**
 * Everything the queue holds about a job, read at once (`QueueJobHandle.read()`): its status, who
 * enqueued it, and a finished job's outcome. What the producer's `/v1` routes show.
 */
export interface JobRecord extends JobStatus {
  /** Who enqueued it (PredictOptions.owner); undefined for nobody in particular. */
  owner?: string;
  /** The version the job was queued for. */
  version?: string;
  /** What a worker last reported (0 before any). */
  progress: number | object;
  /** Attempts the job may take. */
  attemptsMax: number;
  /** A finished job's prediction, or the error it failed with. */
  outcome?: { ok: true; prediction: Prediction } | { ok: false; error: ConveyorError };
}

/**
 * A job's record read without its outputs (`read({ outputs: false })`): a completed job's outcome
 * has the version that ran and its timings, not its outputs, which are never read from Redis.
 */
export interface JobSummary extends Omit<JobRecord, 'outcome'> {
  outcome?:
    { ok: true; prediction: Omit<Prediction, 'outputs'> } | { ok: false; error: ConveyorError };
}

/**
 * What happens to a job: its state (the first event is its state when `events()` was called),
 * and progress a worker reports. `unknown` means the job was removed (cancelled or trimmed).
 */
export type JobEvent =
  { type: 'state'; state: JobState } | { type: 'progress'; progress: number | object };

/** A job on the queue; `result()` waits for it. */
export interface JobHandle<O extends object = Outputs> {
  readonly id: string;
  readonly model: string;
  status(): Promise<JobStatus>;
  /**
   * Resolves with the prediction, or rejects with the job's ConveyorError (ERR_JOB_TIMEOUT if it
   * does not finish in time).
   */
  result(options?: { timeoutMs?: number }): Promise<Prediction<O>>;
  /**
   * Removes the job if no worker has taken it yet. Rejects with ERR_JOB_NOT_CANCELLABLE once it is
   * active or finished, ERR_JOB_NOT_FOUND if it does not exist. A cancelled job is gone: its id is
   * then unknown.
   */
  cancel(): Promise<void>;
  /**
   * The job's events as they happen: first its current state, then each change and progress
   * report. Ends after `completed`, `failed` or `unknown`, or when the loop breaks.
   */
  events(): AsyncIterableIterator<JobEvent>;
}

/** What a queued job was asked to do: its inputs and the options it was enqueued with. */
export interface JobRequest {
  model: string;
  version?: string;
  inputs: Record<string, Tensor>;
  outputs?: string[];
  owner?: string;
  /** Epoch ms. */
  deadline?: number;
  priority?: number;
}

/** A queued job's handle, with the one read of everything the queue holds about it. */
export interface QueueJobHandle<O extends object = Outputs> extends JobHandle<O> {
  /** The job's record, or undefined for an id Redis does not know (never was, or trimmed). */
  read(): Promise<JobRecord | undefined>;
  /** The same without a completed job's outputs (a status page needs none): see JobSummary. */
  read(options: { outputs: false }): Promise<JobSummary | undefined>;
  /**
   * The job's request read back (to run its rows again apart, for instance); undefined when the
   * job, its payload or its stored inputs are gone.
   */
  request(): Promise<JobRequest | undefined>;
}

/**
 * What an application uses to run predictions. The queue client (`createClient`) and the embedded
 * client (`createEmbeddedClient`) implement it alike: same validation, errors and options.
 * A model is named by a string, or by a `defineModel` definition that types inputs and outputs.
 */
export interface ConveyorClient {
  /** Enqueues a prediction and waits for its result. */
  predict<M extends ModelRef, K extends OutputName<M> = OutputName<M>>(
    model: M,
    inputs: InputsOf<M>,
    options?: PredictOptionsFor<M, K>,
  ): Promise<Prediction<OutputsOf<M, K>>>;
  /** Enqueues a prediction and returns at once with its handle. */
  enqueue<M extends ModelRef, K extends OutputName<M> = OutputName<M>>(
    model: M,
    inputs: InputsOf<M>,
    options?: PredictOptionsFor<M, K>,
  ): Promise<JobHandle<OutputsOf<M, K>>>;
  /**
   * Checks every item, then enqueues them with BullMQ addBulk, in round trips of about 2 MiB of
   * inputs each (items with an idempotency key one by one). One bad item refuses the whole call
   * before anything is enqueued; its error's details.index says which. When Redis fails part way
   * (ERR_QUEUE_UNAVAILABLE) earlier round trips may have been added: retry with idempotency keys
   * to add the rest once. Handles come back in the order of the items.
   */
  enqueueMany<M extends ModelRef, K extends OutputName<M> = OutputName<M>>(
    model: M,
    items: readonly BulkItem<M>[],
    options?: BulkOptionsFor<M, K>,
  ): Promise<JobHandle<OutputsOf<M, K>>[]>;
  /**
   * Runs a prediction for each item, at most `concurrency` at a time, and yields each result with
   * its item's index as it finishes (in item order with `ordered: true`). A failed item yields its
   * error and the iteration goes on; bad options, or closing the client, end it with the error.
   */
  predictMany<M extends ModelRef, K extends OutputName<M> = OutputName<M>>(
    model: M,
    items: Iterable<InputsOf<M>> | AsyncIterable<InputsOf<M>>,
    options?: PredictManyOptions<M, K>,
  ): AsyncIterableIterator<PredictManyResult<OutputsOf<M, K>>>;
  /**
   * A handle to a job enqueued earlier, by any client, from its id alone (ids name their model).
   * Throws ERR_VALIDATION for a string that is not a Conveyor job id.
   */
  job<O extends object = Outputs>(id: string): JobHandle<O>;
  /**
   * The model versions workers have announced, each with the number of live worker processes
   * serving it. The embedded client lists the versions it serves, each with 1.
   */
  models(): Promise<ModelInfo[]>;
  /**
   * The id a job enqueued now with these options will get: its version is chosen here (an alias
   * by its weights; with an idempotency key, the version that key's first job went to). For a
   * caller that must know a job's id before the job exists (the producer's webhooks).
   */
  jobIdFor(
    model: string,
    options?: { version?: string; idempotencyKey: string; owner?: string },
  ): Promise<string>;
  /**
   * Attaches the truth to a prediction: `{ label }` (class index or label, one per row) or
   * `{ value }` (regression). Scores it against the prediction's output and counts it towards its
   * version's live accuracy, once per prediction: the same truth again answers the first receipt,
   * another is ERR_FEEDBACK_EXISTS. ERR_VALIDATION for a bad id or feedback;
   * ERR_PREDICTION_NOT_FOUND when the prediction is no longer known (or is not `options.owner`'s).
   * The queue client finds it in the prediction log or among kept jobs and appends the feedback to
   * the model's feedback stream; the embedded client keeps recent predictions in memory
   * (`keepPredictions`) and has no feedback stream (docs/lifecycle.md).
   */
  feedback(id: string, feedback: Feedback, options?: FeedbackOptions): Promise<FeedbackReceipt>;
  /**
   * Live accuracy and error of each version of a model over the last 5 minutes, hour and day,
   * from the feedback received (by the Redis server's clock on the queue, this process's clock
   * embedded; `at` reads another time, in ms). ERR_VALIDATION for a bad name or option.
   */
  accuracy(model: string, options?: AccuracyQuery): Promise<ModelAccuracy>;
  /**
   * Input drift of a model's versions that have a model.json `baseline`, over a window ending now
   * (default 1 hour): per feature PSI, Kolmogorov–Smirnov and chi-square against the baseline. The
   * queue client reads what workers counted (a DRIFT_SAMPLE share); the embedded client counts
   * every input of its own predictions, in memory.
   */
  drift(model: string, query?: DriftQuery): Promise<DriftReport>;
  /** Closes every connection; in-flight waits reject with ERR_CLOSED. */
  close(): Promise<void>;
}

/**
 * The queue client (`createClient`): a ConveyorClient whose job handles can read their record, and
 * which reads the workers and queues it sends to. The embedded client has no queue and no workers,
 * so it has neither `workers()` nor `status()`, and nothing in Redis: no aliases, comparisons,
 * replay or prediction log.
 */
export interface QueueClient extends ConveyorClient {
  job<O extends object = Outputs>(id: string): QueueJobHandle<O>;
  /**
   * The live workers' records (worker registry): those that beat within WORKER_SILENT_MS by the
   * Redis server's clock and whose record is there and valid (an invalid one is skipped).
   */
  workers(): Promise<WorkerRecord[]>;
  /**
   * Models, their versions' queues (counts, oldest wait, workers, backlog in seconds of work),
   * live workers and failures by code, read from Redis now. Rejects with ERR_QUEUE_UNAVAILABLE.
   */
  status(): Promise<ConveyorStatus>;
  /** A model's aliases and where each points (empty when none is set), as requests read them. */
  aliases(model: string): Promise<ModelAliases>;
  /**
   * A model's shadow and replay comparisons, one report per version pair: agreement and
   * differences per output, latency of each side, counts (see docs/lifecycle.md).
   */
  compare(model: string, options?: CompareOptions): Promise<ComparisonReport[]>;
  /**
   * Replays a window of the model's prediction log against a candidate version through the queue
   * at the lowest priority, comparing each answer with the logged one; resolves with the replay's
   * comparison reports (kept, as `client.compare` shows them).
   */
  replay(
    model: string,
    options: ReplayOptions,
    onProgress?: (progress: ReplayProgress) => void,
  ): Promise<ComparisonReport[]>;
  /**
   * A model's prediction log (predictions workers sampled, see docs/lifecycle.md), oldest first,
   * inputs and outputs decoded, read page by page. ERR_VALIDATION for a bad query.
   */
  predictionLog(model: string, query?: PredictionLogQuery): AsyncIterableIterator<LoggedPrediction>;
  /** How much a model's prediction log holds now: entries, and bytes as its budget counts them. */
  predictionLogSize(model: string): Promise<{ entries: number; bytes: number }>;
}
