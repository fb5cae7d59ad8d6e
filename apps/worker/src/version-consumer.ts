import { hostname } from 'node:os';
import { Queue, Worker, type Job, type JobJson, type Processor, type WorkerOptions } from 'bullmq';
import type { Tracer } from '@opentelemetry/api';
import { jobsToHold, type Engine, type ServedModel } from '@conveyor/engine';
import {
  ConveyorError,
  DEFAULTS,
  formatFailure,
  queueName,
  readJobTraceMetadata,
  throttledErrorLog,
  type Config,
  type Logger,
  queuePrefix,
  type RedisClient,
} from '@conveyor/shared';
import { NO_JOB_METRICS, type WorkerMetrics } from './metrics.js';
import type { PredictionObserver } from './prediction-observer.js';
import type { BlobStore } from './blob-store.js';
import { createProcessor, dropStoredInputs } from './processor.js';
import { createResultStore } from './result-store.js';
import type { ShadowGate } from './shadow-gate.js';
import type { WorkerRegistry } from './worker-registry.js';

/** The BullMQ worker (and queue) of one model version: the only consumer of that version's jobs. */
export interface VersionConsumer {
  readonly model: string;
  readonly version: string;
  readonly concurrency: number;
  /** Jobs of this version not yet taken (waiting, prioritized, delayed). */
  backlog(): Promise<number>;
  /** Ids of the jobs this consumer has taken whose end Redis has not recorded yet. */
  activeJobs(): string[];
  /** Stops taking jobs and waits for those in flight, and for their end to be recorded. */
  close(): Promise<void>;
  /**
   * Drops its blocking connection at once, for a close() that ran out of time: the jobs still
   * active are left to BullMQ's stalled-job recovery.
   */
  abandon(): void;
}

/**
 * A BullMQ Worker that fails a job whose data is not JSON (written into Redis around the SDK)
 * instead of choking on it. BullMQ parses job data in Job.fromJSON after its moveToActive script
 * has locked the job, so the parse error left the job active under a lock nobody renewed, and the
 * stalled-job check put it back every lock period, for as long as the worker ran. Here such a job
 * keeps its data as the raw string and carries a deferred failure, which BullMQ records at once
 * (without retries, without calling the processor).
 */
class ConsumerWorker extends Worker {
  constructor(
    name: string,
    processor: Processor,
    opts: WorkerOptions,
    private readonly unreadable: (job: Job, reason: string) => string,
  ) {
    super(name, processor, opts);
  }

  protected override createJob(data: JobJson, jobId: string): Job {
    try {
      return super.createJob(data, jobId);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      const job = super.createJob({ ...data, data: JSON.stringify(data.data) }, jobId);
      job.deferredFailure = this.unreadable(job, err.message);
      return job;
    }
  }
}

/**
 * Jobs a worker holds of a version when neither its model.json nor WORKER_CONCURRENCY says: what
 * keeps its inference threads busy (`jobsToHold`), at least DEFAULTS.workerConcurrency, at most
 * DERIVED_MAX: held jobs keep their inputs in memory, and a large `maxBatchSize` should not
 * multiply that unasked (set WORKER_CONCURRENCY or model.json `concurrency` for more). Measured in
 * `pnpm bench` (scenario 7): for iris and text-direction at batches of up to 32, 64 held ran 28 %
 * and 3 % more jobs per second than 32.
 */
const DERIVED_MAX = 256;
const defaultConcurrency = (served: ServedModel): number =>
  Math.min(DERIVED_MAX, Math.max(DEFAULTS.workerConcurrency, jobsToHold(served)));

/** Starts consuming one version's queue with the engine's session of that version. */
export async function startVersionConsumer(options: {
  engine: Engine;
  model: string;
  version: string;
  connection: RedisClient;
  config: Config;
  blobs: BlobStore;
  log: Logger;
  metrics?: WorkerMetrics | undefined;
  /** Traces each job (TRACING=otlp); undefined: no tracing work at all. */
  tracer?: Tracer | undefined;
  /** Counts the version's jobs for the worker's record too. */
  registry?: Pick<WorkerRegistry, 'jobs'> | undefined;
  /** Sees each completed job it wants (prediction log, shadow, drift). */
  observer?: PredictionObserver | undefined;
  /** Holds shadow copies back while live jobs run in this process; none: copies run as taken. */
  gate?: ShadowGate | undefined;
}): Promise<VersionConsumer> {
  const { engine, model, version, connection, config, blobs } = options;
  const log = options.log.child({ model, version });
  const name = queueName(model, version);
  const served = engine.resolve(model, version);
  const concurrency =
    served.entry.config.concurrency ?? config.WORKER_CONCURRENCY ?? defaultConcurrency(served);
  const prometheus = options.metrics?.jobs(model, version) ?? NO_JOB_METRICS;
  const metrics = options.registry?.jobs(model, version, concurrency, prometheus) ?? prometheus;
  // Every BullMQ object needs an 'error' listener: without one, QueueBase.emit prints the error's
  // stack to stderr through the console, once per object per reconnect attempt.
  const logError = throttledErrorLog(log, 'worker error');
  // BullMQ caps a queue's event stream with the length a Queue stores in the queue's metadata.
  const queue = new Queue(name, {
    connection,
    prefix: queuePrefix(config.REDIS_KEY_PREFIX, name),
    streams: { events: { maxLen: config.EVENTS_MAX_LEN } },
  });
  queue.on('error', logError);
  await queue.waitUntilReady();
  const unreadable = (job: Job, reason: string): string => {
    const jobId = String(job.id);
    const attempt = job.attemptsMade + 1;
    const error = new ConveyorError(
      'ERR_PAYLOAD_INVALID',
      `payload of job ${jobId} is not JSON (${reason})`,
    );
    const traceId = options.tracer
      ? readJobTraceMetadata(job.opts.telemetry?.metadata)?.parent.traceId
      : undefined;
    log.warn({ jobId, traceId, model, version, code: error.code, attempt, reason }, 'job failed');
    metrics.failed(error.code, false);
    return formatFailure(error);
  };
  const results = createResultStore({
    connection,
    config,
    queue: name,
    // Past the byte budget: the oldest completed jobs with stored outputs go first.
    remove: async (ids) => {
      const removed = await Promise.all(ids.map((id) => queue.remove(id).catch(() => 0)));
      log.debug({ removed: removed.filter(Boolean).length }, 'results trimmed to the byte budget');
    },
  });
  const processor = createProcessor(
    engine,
    model,
    version,
    log,
    blobs,
    results,
    metrics,
    options.tracer,
    options.observer,
  );
  const { gate } = options;
  const worker = new ConsumerWorker(
    name,
    gate ? (job: Job) => gate.run(job, () => processor(job)) : processor,
    {
      connection,
      prefix: queuePrefix(config.REDIS_KEY_PREFIX, name),
      // Recorded on each job as processedBy: which process ran it.
      name: `${hostname()}:${process.pid}`,
      concurrency,
      // Retention for jobs whose producer set none (the SDK always sets its own).
      removeOnComplete: { count: config.KEEP_COMPLETED_JOBS, age: config.KEEP_COMPLETED_AGE_S },
      removeOnFail: { count: config.KEEP_FAILED_JOBS, age: config.KEEP_FAILED_AGE_S },
      // No BullMQ `metrics`: nothing reads them (Prometheus counts jobs), and they cost two Redis
      // commands in every job's completion.
      // A killed worker's jobs go back to the queue once their lock expires and a stalled check runs.
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: config.STALLED_INTERVAL_MS,
      autorun: false,
    },
    unreadable,
  );
  worker.on('error', logError);
  // Taken until BullMQ has recorded their end: what a shutdown that runs out of time leaves behind.
  const active = new Set<string>();
  worker.on('active', (job: Job) => active.add(String(job.id)));
  worker.on('failed', (job: Job | undefined) => {
    if (job) active.delete(String(job.id));
  });
  worker.on('completed', (job: Job) => {
    active.delete(String(job.id));
    // Only once the completion is recorded; a leftover (the process died in between) expires.
    void dropStoredInputs(blobs, model, job, log);
  });
  worker.run().catch((err: unknown) => log.error({ err }, 'worker stopped taking jobs'));
  await worker.waitUntilReady();
  let closing: Promise<void> | undefined;
  return {
    model,
    version,
    concurrency,
    backlog: () => queue.getJobCountByTypes('waiting', 'prioritized', 'delayed'),
    activeJobs: () => [...active],
    close() {
      closing ??= (async () => {
        await worker.close();
        await queue.close();
      })();
      return closing;
    },
    abandon() {
      // Its Redis connection is shared, and closed by the worker service.
      worker
        .getBackend()
        .disconnectBlocking(false)
        .catch(() => undefined);
    },
  };
}
