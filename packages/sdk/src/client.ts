import {
  PredictOptionsSchema,
  type ModelSignature,
  type PredictOptions,
  type Tensor,
  type TensorInputs,
} from '@conveyor/shared';
import { z } from 'zod';

/** Options shared by every job of an enqueueMany call: all of predict's but the idempotency key. */
export const BulkOptionsSchema = PredictOptionsSchema.omit({ idempotencyKey: true });
export type BulkOptions = z.input<typeof BulkOptionsSchema>;

/** What enqueueMany reads of each item besides its inputs. */
export const BulkItemOptionsSchema = z.object({
  inputs: z.unknown(),
  idempotencyKey: PredictOptionsSchema.shape.idempotencyKey,
});

/** One job of an enqueueMany call. */
export interface BulkItem {
  inputs: TensorInputs;
  /** Enqueueing the same key twice gives the same job, as with enqueue. */
  idempotencyKey?: string;
}

/** An announced model version and how many workers serve its model now. */
export type ModelInfo = ModelSignature & { workers: number };

/** A finished prediction. */
export interface Prediction<O extends string = string> {
  jobId: string;
  model: string;
  version: string;
  outputs: Record<O, Tensor>;
  timings: {
    /** ms from enqueue until a worker took the job. */
    queuedMs: number;
    /** ms of inference on the worker. */
    inferenceMs: number;
  };
}

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
  /** The failure of a failed job. */
  error?: { code: string; message: string };
}

/** A job on the queue; `result()` waits for it. */
export interface JobHandle<O extends string = string> {
  readonly id: string;
  readonly model: string;
  status(): Promise<JobStatus>;
  /** Resolves with the prediction, or rejects with the job's ConveyorError (ERR_JOB_TIMEOUT if it does not finish in time). */
  result(options?: { timeoutMs?: number }): Promise<Prediction<O>>;
  /**
   * Removes the job if no worker has taken it yet. Rejects with ERR_JOB_NOT_CANCELLABLE once it is
   * active or finished, ERR_JOB_NOT_FOUND if it does not exist. A cancelled job is gone: its id is
   * then unknown.
   */
  cancel(): Promise<void>;
}

/** What an application uses to run predictions. */
export interface ConveyorClient {
  /** Enqueues a prediction and waits for its result. */
  predict<O extends string = string>(
    model: string,
    inputs: TensorInputs,
    options?: PredictOptions,
  ): Promise<Prediction<O>>;
  /** Enqueues a prediction and returns at once with its handle. */
  enqueue<O extends string = string>(
    model: string,
    inputs: TensorInputs,
    options?: PredictOptions,
  ): Promise<JobHandle<O>>;
  /**
   * Checks every item, then enqueues them all in one round trip (BullMQ addBulk). One bad item
   * refuses the whole call before anything is enqueued; its error's details.index says which.
   * Handles come back in the order of the items.
   */
  enqueueMany<O extends string = string>(
    model: string,
    items: readonly BulkItem[],
    options?: BulkOptions,
  ): Promise<JobHandle<O>[]>;
  /**
   * A handle to a job enqueued earlier, by any client, from its id alone (ids name their model).
   * Throws ERR_VALIDATION for a string that is not a Conveyor job id.
   */
  job<O extends string = string>(id: string): JobHandle<O>;
  /**
   * The model versions workers have announced, each with the number of worker processes
   * consuming its model's queue right now (0 when every worker that announced it has stopped).
   */
  models(): Promise<ModelInfo[]>;
  /** Closes every connection; in-flight waits reject with ERR_CLOSED. */
  close(): Promise<void>;
}
