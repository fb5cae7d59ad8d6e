import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MetricsTime, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createEngine, type Engine } from '@conveyor/engine';
import {
  queueName,
  redactUrl,
  redisOptions,
  throttledErrorLog,
  type Config,
  type Logger,
} from '@conveyor/shared';
import { startAnnouncing } from './announce.js';
import { createProcessor, dropStoredInputs, type BlobStore } from './processor.js';

/** A running worker process: one BullMQ worker per model, sharing one engine. */
export interface WorkerService {
  readonly engine: Engine;
  /** Model names whose queues this process consumes. */
  readonly models: readonly string[];
  /**
   * Stops taking jobs, lets the jobs in flight finish (at most SHUTDOWN_TIMEOUT_MS, then they are
   * abandoned to BullMQ's stalled-job recovery), and closes the engine and every connection.
   */
  close(): Promise<void>;
}

export async function startWorkerService(config: Config, log: Logger): Promise<WorkerService> {
  const engine = await createEngine({
    repository: config.MODEL_REPOSITORY,
    models: config.MODELS,
    threads: config.INFERENCE_THREADS,
    maxTensorBytes: config.MAX_TENSOR_BYTES,
    logger: log,
  });
  const connection = new Redis(config.REDIS_URL, redisOptions('worker', 'conveyor-worker'));
  connection.on('error', throttledErrorLog(log, 'redis connection error'));
  log.info(
    { redis: redactUrl(config.REDIS_URL), prefix: config.REDIS_KEY_PREFIX },
    'connecting to redis',
  );

  // Announce each model version (and keep announcing it) so clients can check requests before
  // enqueueing them; versions no worker has announced for MODEL_EXPIRY_MS are forgotten.
  const announcer = await startAnnouncing({
    connection,
    prefix: config.REDIS_KEY_PREFIX,
    signatures: [...engine.models.values()].flatMap((versions) => versions.map((v) => v.signature)),
    expiryMs: config.MODEL_EXPIRY_MS,
    log,
  });

  // BullMQ caps a queue's event stream with the length a Queue stores in the queue's metadata.
  const models = [...engine.models.keys()];
  const queues = models.map(
    (model) =>
      new Queue(queueName(model), {
        connection,
        prefix: config.REDIS_KEY_PREFIX,
        streams: { events: { maxLen: config.EVENTS_MAX_LEN } },
      }),
  );
  await Promise.all(queues.map((q) => q.waitUntilReady()));

  const blobs: BlobStore = {
    prefix: config.REDIS_KEY_PREFIX,
    async get(keys) {
      const pipeline = connection.pipeline();
      for (const key of keys) pipeline.getBuffer(key);
      const replies = await pipeline.exec();
      return (replies ?? []).map(([err, value]) => {
        if (err) throw err;
        return Buffer.isBuffer(value) ? value : null;
      });
    },
    async del(keys) {
      await connection.del(...keys);
    },
  };
  const concurrency = new Map(
    models.map((model) => [model, concurrencyOf(engine, model, config.WORKER_CONCURRENCY)]),
  );
  const workers = models.map((model) => {
    const worker = new Worker(
      queueName(model),
      createProcessor(engine, model, log.child({ model }), blobs),
      {
        connection,
        prefix: config.REDIS_KEY_PREFIX,
        // Recorded on each job as processedBy: which process ran it.
        name: `${hostname()}:${process.pid}`,
        concurrency: concurrency.get(model) ?? config.WORKER_CONCURRENCY,
        // Retention for jobs whose producer set none (the SDK always sets its own).
        removeOnComplete: {
          count: config.KEEP_COMPLETED_JOBS,
          age: config.KEEP_COMPLETED_AGE_S,
        },
        removeOnFail: { count: config.KEEP_FAILED_JOBS, age: config.KEEP_FAILED_AGE_S },
        // Per-minute completed/failed counts, for `conveyor queues` and dashboards.
        metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
        // A killed worker's jobs go back to the queue once their lock expires and a stalled check runs.
        lockDuration: config.JOB_LOCK_MS,
        stalledInterval: config.STALLED_INTERVAL_MS,
        autorun: false,
      },
    );
    worker.on('error', throttledErrorLog(log.child({ model }), 'worker error'));
    // Only once the completion is recorded; a leftover (the process died in between) expires.
    worker.on('completed', (job) => void dropStoredInputs(blobs, job, log));
    return worker;
  });
  for (const worker of workers) void worker.run();
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  log.info({ models, concurrency: Object.fromEntries(concurrency) }, 'worker ready');

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let closing: Promise<void> | undefined;
  return {
    engine,
    models,
    close() {
      closing ??= (async () => {
        log.info(
          { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
          'worker stopping: finishing jobs in flight',
        );
        let timer: NodeJS.Timeout | undefined;
        const graceful = Promise.all(workers.map((w) => w.close())).then(() => 'drained' as const);
        const deadline = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), config.SHUTDOWN_TIMEOUT_MS);
        });
        const outcome = await Promise.race([graceful, deadline]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          log.warn(
            'jobs still running at the shutdown deadline; BullMQ will hand them to another worker',
          );
          await Promise.all(workers.map((w) => w.close(true)));
        }
        announcer.stop();
        await Promise.all(queues.map((q) => q.close()));
        await engine.close();
        await connection.quit().catch(() => connection.disconnect());
        loop.disable();
        const ms = (ns: number) => Math.round(ns / 1e4) / 100;
        // How long the event loop was ever kept from Redis traffic: inference must not show here.
        log.info(
          {
            eventLoopDelayMs: {
              p50: ms(loop.percentile(50)),
              p99: ms(loop.percentile(99)),
              max: ms(loop.max),
            },
          },
          'worker stopped',
        );
      })();
      return closing;
    },
  };
}

/**
 * Jobs of a model a worker process holds at once: the newest served version's `concurrency`, or
 * the process default. Batching needs it at least as large as the batch size to fill batches.
 */
function concurrencyOf(engine: Engine, model: string, fallback: number): number {
  const versions = engine.models.get(model) ?? [];
  return versions[versions.length - 1]?.entry.config.concurrency ?? fallback;
}
