import { hostname } from 'node:os';
import { MetricsTime, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Engine } from '@conveyor/engine';
import { queueName, throttledErrorLog, type Config, type Logger } from '@conveyor/shared';
import { createProcessor, dropStoredInputs, type BlobStore } from './processor.js';

/** The BullMQ worker (and queue) of one model version: the only consumer of that version's jobs. */
export interface VersionConsumer {
  readonly model: string;
  readonly version: string;
  readonly concurrency: number;
  /** Jobs of this version not yet taken (waiting, prioritized, delayed). */
  backlog(): Promise<number>;
  /** Stops taking jobs and waits for those in flight; with `force`, abandons them to stall recovery. */
  close(force?: boolean): Promise<void>;
}

/** Starts consuming one version's queue with the engine's session of that version. */
export async function startVersionConsumer(options: {
  engine: Engine;
  model: string;
  version: string;
  connection: Redis;
  config: Config;
  blobs: BlobStore;
  log: Logger;
}): Promise<VersionConsumer> {
  const { engine, model, version, connection, config, blobs } = options;
  const log = options.log.child({ model, version });
  const name = queueName(model, version);
  const served = engine.resolve(model, version);
  const concurrency = served.entry.config.concurrency ?? config.WORKER_CONCURRENCY;
  // BullMQ caps a queue's event stream with the length a Queue stores in the queue's metadata.
  const queue = new Queue(name, {
    connection,
    prefix: config.REDIS_KEY_PREFIX,
    streams: { events: { maxLen: config.EVENTS_MAX_LEN } },
  });
  await queue.waitUntilReady();
  const worker = new Worker(name, createProcessor(engine, model, version, log, blobs), {
    connection,
    prefix: config.REDIS_KEY_PREFIX,
    // Recorded on each job as processedBy: which process ran it.
    name: `${hostname()}:${process.pid}`,
    concurrency,
    // Retention for jobs whose producer set none (the SDK always sets its own).
    removeOnComplete: { count: config.KEEP_COMPLETED_JOBS, age: config.KEEP_COMPLETED_AGE_S },
    removeOnFail: { count: config.KEEP_FAILED_JOBS, age: config.KEEP_FAILED_AGE_S },
    // Per-minute completed/failed counts, for `conveyor queues` and dashboards.
    metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
    // A killed worker's jobs go back to the queue once their lock expires and a stalled check runs.
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.STALLED_INTERVAL_MS,
    autorun: false,
  });
  worker.on('error', throttledErrorLog(log, 'worker error'));
  // Only once the completion is recorded; a leftover (the process died in between) expires.
  worker.on('completed', (job) => void dropStoredInputs(blobs, job, log));
  void worker.run();
  await worker.waitUntilReady();
  let closing: Promise<void> | undefined;
  return {
    model,
    version,
    concurrency,
    backlog: () => queue.getJobCountByTypes('waiting', 'prioritized', 'delayed'),
    close(force = false) {
      closing ??= (async () => {
        await worker.close(force);
        await queue.close();
      })();
      return closing;
    },
  };
}
