import type { ModelSignature } from '@conveyor/shared';
import { TASKS_PER_THREAD } from './inference-pool.js';
import type { ModelEntry } from './model-repository.js';
import type { RuntimeSignature } from './signature.js';

/**
 * `ready`: loaded, checked and warmed up (or warm-up is off). `degraded`: served, but its warm-up
 * run failed, so the first real request may fail the same way; `stateReason` says why.
 */
export type ModelState = 'ready' | 'degraded';

/** A model version the engine has loaded and checked. */
export interface ServedModel {
  readonly entry: ModelEntry;
  readonly signature: ModelSignature;
  /** Inputs and outputs as onnxruntime reports them, symbolic dimension names included. */
  readonly runtime: RuntimeSignature;
  /** Inference threads running this version. */
  readonly threads: number;
  /**
   * Whether requests are joined into batches: every input and output has a free first dimension
   * (the batch axis) and model.json does not turn batching off.
   */
  readonly batchable: boolean;
  /**
   * What a request that names no outputs gets, when not every output of the signature: a version
   * with postprocess steps lists its raw model outputs too, returned only when named.
   */
  readonly defaultOutputs?: readonly string[];
  /** Milliseconds of the warm-up run, or undefined when warm-up is off or failed. */
  readonly warmupMs: number | undefined;
  /**
   * Milliseconds the engine took to load the version (open, check, warm up, choose where it runs);
   * set by the engine once the version is served.
   */
  readonly loadMs?: number;
  readonly state: ModelState;
  /**
   * True when the version runs on the calling thread instead of inference threads (which are then
   * closed; `threads` says how many it was given): a tiny model, under the engine's
   * `inlineBelowMs`. Absent otherwise.
   */
  readonly inline?: boolean;
  /** Why the version is degraded: the onnxruntime error of its warm-up, and what to change. */
  readonly stateReason?: string;
}

/**
 * Jobs a queue consumer holds to keep `served` busy: a full call (`maxBatchSize` rows, or one row
 * when requests are not joined) running on each thread, and the next call each thread holds
 * (TASKS_PER_THREAD). A worker holding fewer cannot form that second call while the first runs.
 */
export function jobsToHold(served: ServedModel): number {
  const rows = served.batchable ? served.entry.config.batching.maxBatchSize : 1;
  return Math.max(1, served.threads) * TASKS_PER_THREAD * rows;
}
