/**
 * The worker's Prometheus metrics, on a registry of its own (never prom-client's global one),
 * served by the health server at `/metrics` (docs/operations.md lists them). Jobs are counted and
 * timed by the processor through the per-version recorders of `jobs`; onnxruntime calls through the
 * engine's `onRun`; what the worker holds now (versions and their state, threads, batch sizes,
 * Redis) is read from the running service at each scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InferenceRun } from '@conveyor/engine';
import type { VersionStatus } from './version-status.js';

/** Seconds from 0.1 ms to 60 s: an iris job takes well under a millisecond, an OCR batch seconds. */
export const SECONDS_BUCKETS = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
  30, 60,
]);
/** Rows of one onnxruntime call: powers of two, as the batch sizer tries them. */
export const ROWS_BUCKETS = Object.freeze([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);

/** How a job's attempt ended: `retried` is a failure BullMQ tries again. */
export type JobOutcome = 'completed' | 'failed' | 'retried';

/** Records the jobs of one model version; its label sets are made once, not per job. */
export interface JobMetrics {
  /** A job taken from the queue after waiting `seconds` since it was enqueued. */
  taken(seconds: number): void;
  /**
   * A job completed: `inferenceSeconds` in the engine, `endToEndSeconds` since it was enqueued,
   * `slotSeconds` since the processor took it (the time it held one of the worker's slots).
   */
  completed(inferenceSeconds: number, endToEndSeconds: number, slotSeconds: number): void;
  /** An attempt failed with `code`; `retried` when BullMQ tries the job again. */
  failed(code: string, retried: boolean): void;
}

/** Records nothing: for a worker that serves no metrics. */
export const NO_JOB_METRICS: JobMetrics = Object.freeze({
  taken: () => undefined,
  completed: () => undefined,
  failed: () => undefined,
});

/** What the scrape reads from the running worker service. */
export interface MetricsSource {
  versions(): VersionStatus[];
  /** Rows per call the batcher aims at now, and rows per second measured at that size. */
  batching(model: string, version: string): { targetRows: number; rowsPerSecond: number };
  /** Jobs taken and not yet finished, by version. */
  activeJobs(model: string, version: string): number;
  redisHealthy(): boolean;
}

export interface WorkerMetrics {
  readonly registry: Registry;
  /** The recorders of one version's jobs (made on first use, then the same object). */
  jobs(model: string, version: string): JobMetrics;
  /** For the engine's `onRun`: batch sizes formed and time the inference threads were busy. */
  readonly onRun: (run: InferenceRun) => void;
  /** Reads the gauges from `source` at each scrape; undefined while the worker is starting. */
  watch(source: () => MetricsSource | undefined): void;
}

/** One map per model of one value per version: a lookup allocates no key string. */
class PerVersion<T> {
  private readonly byModel = new Map<string, Map<string, T>>();
  constructor(private readonly make: (model: string, version: string) => T) {}
  get(model: string, version: string): T {
    let versions = this.byModel.get(model);
    if (!versions) this.byModel.set(model, (versions = new Map<string, T>()));
    let value = versions.get(version);
    if (value === undefined) versions.set(version, (value = this.make(model, version)));
    return value;
  }
}

export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const byVersion = ['model', 'version'] as const;

  const jobsTotal = new Counter({
    name: 'conveyor_jobs_total',
    help: 'Job attempts this worker finished, by model, version and outcome (completed, failed, retried); failures carry their error code.',
    labelNames: ['model', 'version', 'outcome', 'code'] as const,
    registers,
  });
  const queueWait = new Histogram({
    name: 'conveyor_job_queue_wait_seconds',
    help: 'Time from enqueueing a job to a worker taking it.',
    labelNames: byVersion,
    buckets: [...SECONDS_BUCKETS],
    registers,
  });
  const inference = new Histogram({
    name: 'conveyor_job_inference_seconds',
    help: 'Time of a completed job from its inputs read to its outputs encoded: its wait for a batch, the run, and encoding (the timings.inferenceMs of its result).',
    labelNames: byVersion,
    buckets: [...SECONDS_BUCKETS],
    registers,
  });
  const endToEnd = new Histogram({
    name: 'conveyor_job_end_to_end_seconds',
    help: 'Time from enqueueing a completed job to its result being ready.',
    labelNames: byVersion,
    buckets: [...SECONDS_BUCKETS],
    registers,
  });
  const batchRows = new Histogram({
    name: 'conveyor_batch_rows',
    help: 'Rows of each onnxruntime call that served jobs: the batch sizes formed.',
    labelNames: byVersion,
    buckets: [...ROWS_BUCKETS],
    registers,
  });
  const busy = new Counter({
    name: 'conveyor_inference_busy_seconds_total',
    help: 'Time onnxruntime ran calls that served jobs; divided by conveyor_inference_threads, the utilisation of the threads.',
    labelNames: byVersion,
    registers,
  });

  let source: () => MetricsSource | undefined = () => undefined;
  /** A gauge whose values are set from the source at each scrape (a version gone drops out). */
  const gaugeOf = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (gauge: Gauge<L>, from: MetricsSource) => void,
  ) => {
    const gauge: Gauge<L> = new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        gauge.reset();
        const from = source();
        if (from) fill(gauge, from);
      },
    });
  };
  gaugeOf(
    'conveyor_model_versions',
    'Model versions this worker holds, by state (loading, ready, degraded, draining, failed): 1 each.',
    ['model', 'version', 'state'],
    (gauge, from) => {
      for (const { model, version, state } of from.versions())
        gauge.set({ model, version, state }, 1);
    },
  );
  const perServed = (
    name: string,
    help: string,
    value: (v: VersionStatus, from: MetricsSource) => number | undefined,
  ) =>
    gaugeOf(name, help, byVersion, (gauge, from) => {
      for (const v of from.versions()) {
        if (v.state === 'loading' || v.state === 'failed') continue;
        const n = value(v, from);
        if (n !== undefined) gauge.set({ model: v.model, version: v.version }, n);
      }
    });
  perServed(
    'conveyor_model_load_seconds',
    'Time the version took to load: open, check, warm up, choose where it runs.',
    (v) => (v.loadMs === undefined ? undefined : v.loadMs / 1000),
  );
  perServed(
    'conveyor_model_warmup_seconds',
    'Time of the warm-up run of the version (absent when warm-up is off or failed).',
    (v) => (v.warmupMs === undefined ? undefined : v.warmupMs / 1000),
  );
  perServed(
    'conveyor_inference_threads',
    'Inference threads of the version; 0 when it runs on the main thread of the worker (a tiny model).',
    (v) => (v.inline ? 0 : v.threads),
  );
  perServed(
    'conveyor_batch_target_rows',
    'Rows per onnxruntime call the adaptive batcher aims at now.',
    (v, from) => from.batching(v.model, v.version).targetRows,
  );
  perServed(
    'conveyor_batch_rows_per_second',
    'Rows per second measured at the target batch size (moving mean; 0 until measured).',
    (v, from) => from.batching(v.model, v.version).rowsPerSecond,
  );
  perServed('conveyor_jobs_active', 'Jobs this worker has taken and not yet finished.', (v, from) =>
    from.activeJobs(v.model, v.version),
  );
  gaugeOf(
    'conveyor_redis_up',
    'Whether Redis answers the health beats of this worker (1) or not, or not yet while it starts (0).',
    [],
    (gauge, from) => gauge.set(from.redisHealthy() ? 1 : 0),
  );

  const runs = new PerVersion((model, version) => ({
    rows: batchRows.labels(model, version),
    busy: busy.labels(model, version),
  }));
  const jobs = new PerVersion((model, version): JobMetrics => {
    const wait = queueWait.labels(model, version);
    const run = inference.labels(model, version);
    const total = endToEnd.labels(model, version);
    const completed = jobsTotal.labels({ model, version, outcome: 'completed' });
    const failures = new Map<string, Counter.Internal>();
    return {
      taken: (seconds) => wait.observe(seconds),
      completed(inferenceSeconds, endToEndSeconds) {
        completed.inc();
        run.observe(inferenceSeconds);
        total.observe(endToEndSeconds);
      },
      failed(code, retried) {
        const outcome: JobOutcome = retried ? 'retried' : 'failed';
        const key = `${outcome} ${code}`;
        let counter = failures.get(key);
        if (!counter)
          failures.set(key, (counter = jobsTotal.labels(model, version, outcome, code)));
        counter.inc();
      },
    };
  });

  return {
    registry,
    jobs: (model, version) => jobs.get(model, version),
    onRun(run) {
      const recorders = runs.get(run.model, run.version);
      recorders.rows.observe(run.rows);
      recorders.busy.inc(run.ms / 1000);
    },
    watch(from) {
      source = from;
    },
  };
}
