import type { JobPayload, Logger, Tensor } from '@conveyor/shared';

/** A job a worker has just completed, as an observer sees it. Tensors are read-only views. */
export interface CompletedPrediction {
  readonly jobId: string;
  readonly model: string;
  /** The version that ran the job. */
  readonly version: string;
  /** The job's payload as read from Redis (parameters, deadline, trace context...). */
  readonly payload: JobPayload;
  /** The decoded input tensors; present only when the observer asked for them (see wants). */
  readonly inputs?: Readonly<Record<string, Tensor>>;
  /** The outputs the engine answered (decoded, before encoding for Redis). */
  readonly outputs: Readonly<Record<string, Tensor>>;
  /** Milliseconds from enqueue until a worker took the job. */
  readonly queuedMs: number;
  /** Milliseconds from handing the inputs to the engine until it answered. */
  readonly inferenceMs: number;
  readonly traceId?: string | undefined;
  /** When the job completed, ms since the epoch (this worker's clock). */
  readonly completedAt: number;
}

/**
 * Watches a worker's completed jobs, off the job's path: the prediction log, shadow comparison
 * and drift statistics are observers. An observer never fails or delays a job; what it does with
 * Redis it does after the job's result is returned, and its errors are logged.
 */
export interface PredictionObserver {
  /**
   * Decides, before the job runs, whether this observer wants it and whether it needs its input
   * tensors (which are otherwise moved to an inference thread and gone afterwards).
   */
  wants(model: string, version: string, payload: JobPayload): 'no' | 'outputs' | 'inputs';
  /** Called once per wanted job after it completed; may start async work and return at once. */
  completed(prediction: CompletedPrediction): void | Promise<void>;
}

/** No observers: nothing asked for, nothing done. */
export const NO_OBSERVER: PredictionObserver = {
  wants: () => 'no',
  completed: () => undefined,
};

/** One observer made of several: wanted if any wants, fed to those that wanted it. */
export function combineObservers(
  observers: readonly PredictionObserver[],
  log: Logger,
): PredictionObserver {
  if (observers.length === 0) return NO_OBSERVER;
  const wanted = new WeakMap<JobPayload, PredictionObserver[]>();
  return {
    wants(model, version, payload) {
      let need: 'no' | 'outputs' | 'inputs' = 'no';
      // Made only when some observer wants the job: most jobs are wanted by none.
      let takers: PredictionObserver[] | undefined;
      for (const observer of observers) {
        const want = observer.wants(model, version, payload);
        if (want === 'no') continue;
        (takers ??= []).push(observer);
        if (want === 'inputs' || need === 'no') need = want;
      }
      if (takers) wanted.set(payload, takers);
      return need;
    },
    completed(prediction) {
      for (const observer of wanted.get(prediction.payload) ?? []) {
        try {
          const done = observer.completed(prediction);
          if (done) done.catch((err: unknown) => log.warn({ err }, 'prediction observer failed'));
        } catch (err) {
          log.warn({ err }, 'prediction observer failed');
        }
      }
      wanted.delete(prediction.payload);
    },
  };
}
