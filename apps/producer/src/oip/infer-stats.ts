import type { Prediction } from '@conveyor/sdk';
import { isConveyorError, routeOfJobId } from '@conveyor/shared';

/** A count and the time spent over it, in ns (Triton's `$duration_stat`). */
export interface DurationStat {
  count: number;
  ns: number;
}

/** What one model version's infer requests came to, in the shape of Triton's statistics. */
export interface VersionStats {
  /** Epoch ms of the last successful request; 0 before any. */
  last_inference: number;
  inference_count: number;
  execution_count: number;
  success: DurationStat;
  fail: DurationStat;
  queue: DurationStat;
  compute_infer: DurationStat;
}

/**
 * Outcomes of the infer requests this producer process served (REST and gRPC both count through
 * `runInfer`), by model version, since it started: what Triton's statistics extension reports of
 * one server. Entries exist only for versions a job was queued for, so their number is bounded by
 * the models that exist.
 */
export interface InferStats {
  /** A request answered with its prediction, `requestMs` after it arrived. */
  succeeded(prediction: Prediction, requestMs: number): void;
  /**
   * A request that failed `requestMs` after it arrived; counted when its job was queued (the
   * error names the job), for the version it was queued for. Refusals before any job are not.
   */
  failed(model: string, error: unknown, requestMs: number): void;
  /** The version's counts; zeros for one that served nothing here yet. */
  read(model: string, version: string): VersionStats;
}

const NS_PER_MS = 1_000_000;

const empty = (): VersionStats => ({
  last_inference: 0,
  inference_count: 0,
  execution_count: 0,
  success: { count: 0, ns: 0 },
  fail: { count: 0, ns: 0 },
  queue: { count: 0, ns: 0 },
  compute_infer: { count: 0, ns: 0 },
});

const add = (stat: DurationStat, ms: number) => {
  stat.count += 1;
  stat.ns += Math.round(Math.max(0, ms) * NS_PER_MS);
};

/** In-memory counters for `/v2/models/{name}/stats`. */
export function createInferStats(): InferStats {
  const byVersion = new Map<string, VersionStats>();
  const key = (model: string, version: string) => `${model}\n${version}`;
  const entry = (model: string, version: string) => {
    const k = key(model, version);
    let stats = byVersion.get(k);
    if (stats === undefined) {
      stats = empty();
      byVersion.set(k, stats);
    }
    return stats;
  };
  return {
    succeeded(prediction, requestMs) {
      const stats = entry(prediction.model, prediction.version);
      stats.last_inference = Date.now();
      // Conveyor's model config says max_batch_size 0: each request is one inference and one
      // execution, as Triton counts them for such a model.
      stats.inference_count += 1;
      stats.execution_count += 1;
      add(stats.success, requestMs);
      add(stats.queue, prediction.timings.queuedMs);
      add(stats.compute_infer, prediction.timings.inferenceMs);
    },
    failed(model, error, requestMs) {
      const jobId = isConveyorError(error) ? error.details.jobId : undefined;
      if (typeof jobId !== 'string') return;
      let route: { model: string; version: string };
      try {
        route = routeOfJobId(jobId);
      } catch {
        return;
      }
      if (route.model !== model) return;
      add(entry(route.model, route.version).fail, requestMs);
    },
    read(model, version) {
      const stats = byVersion.get(key(model, version)) ?? empty();
      return structuredClone(stats);
    },
  };
}
