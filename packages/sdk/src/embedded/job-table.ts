import { ConveyorError, type Logger } from '@conveyor/shared';
import type { JobEvent, JobState, JobStatus, Prediction } from '../client.js';
import type { PreparedJob } from '../request.js';
import { createRetention, type Retention } from './retention.js';
import { attemptJob, type AttemptContext } from './retries.js';
import {
  createReadyQueue,
  createTableJob,
  listen,
  setState,
  statusOf,
  type TableJob,
} from './table-job.js';
import { createWaits, jobNotFound } from './waits.js';

export interface JobTableOptions {
  /** Runs one attempt of a job. */
  run(job: PreparedJob, enqueuedAt: number, takenAt: number): Promise<Prediction>;
  /** Jobs running at once. */
  concurrency: number;
  attempts: number;
  backoffMs: number;
  keepCompleted: Retention;
  keepFailed: Retention;
  log: Logger;
}

/**
 * The embedded client's queue: an in-memory job table with BullMQ's semantics. Jobs wait in
 * priority order, at most `concurrency` run at once, retryable failures are retried with
 * exponential backoff, and finished jobs are kept by count and age.
 */
export interface JobTable {
  /** Adds a job, or returns the existing one of the same id (an idempotency key). */
  add(prepared: PreparedJob): void;
  /**
   * Adds a job and waits for its result, as `add` then `wait` do. A job nobody can know the id
   * of yet (no idempotency key) that could start at once starts at once, without queueing.
   */
  run(prepared: PreparedJob, timeoutMs: number): Promise<Prediction>;
  status(id: string, model: string): JobStatus;
  /** Resolves with the prediction, or rejects as a queue wait would. */
  wait(id: string, model: string, timeoutMs: number): Promise<Prediction>;
  cancel(id: string, model: string): void;
  /** Calls `listener` with each event of the job; returns its current state and the unsubscribe. */
  subscribe(id: string, listener: (event: JobEvent) => void): { state: JobState; stop: () => void };
  pause(): void;
  resume(): void;
  /** Rejects waits with ERR_CLOSED, drops waiting jobs and resolves once running ones end. */
  close(): Promise<void>;
}

export function createJobTable(options: JobTableOptions): JobTable {
  const jobs = new Map<string, TableJob>();
  const ready = createReadyQueue();
  const waits = createWaits();
  const retention = createRetention(
    { completed: options.keepCompleted, failed: options.keepFailed },
    (id) => jobs.delete(id),
  );
  const running = new Set<Promise<void>>();
  let seq = 0;
  let paused = false;
  let closed = false;

  const context: AttemptContext = {
    ...options,
    isClosed: () => closed,
    finish(job, outcome) {
      job.outcome = outcome;
      job.finishedAt = Date.now();
      job.prepared = undefined;
      const state = outcome.ok ? 'completed' : 'failed';
      retention.keep(job, state);
      setState(job, state);
    },
    requeue(job) {
      ready.push(job);
      pump();
    },
  };

  const start = (job: TableJob) => {
    const run: Promise<void> = attemptJob(job, context).finally(() => {
      running.delete(run);
      pump();
    });
    running.add(run);
  };

  const pump = () => {
    while (!paused && !closed && running.size < options.concurrency && ready.length > 0)
      start(ready.shift() as TableJob);
  };

  const find = (id: string): TableJob | undefined => {
    retention.trim();
    return jobs.get(id);
  };

  const assertOpen = () => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
  };

  /** The job of this id if there is one (an idempotency key came back), else a new one. */
  const insert = (prepared: PreparedJob): { job: TableJob; fresh: boolean } => {
    const existing = find(prepared.jobId);
    if (existing) return { job: existing, fresh: false };
    const job = createTableJob(prepared, seq++);
    jobs.set(job.id, job);
    return { job, fresh: true };
  };

  const startsAtOnce = (prepared: PreparedJob) =>
    prepared.options.idempotencyKey === undefined &&
    !paused &&
    ready.length === 0 &&
    running.size < options.concurrency;

  return {
    add(prepared) {
      assertOpen();
      const { job, fresh } = insert(prepared);
      if (!fresh) return;
      ready.push(job);
      pump();
    },
    run(prepared, timeoutMs) {
      assertOpen();
      const direct = startsAtOnce(prepared);
      const { job, fresh } = insert(prepared);
      if (fresh && direct) start(job);
      else if (fresh) {
        ready.push(job);
        pump();
      }
      return waits.wait(job, timeoutMs);
    },
    status(id, model) {
      assertOpen();
      const job = find(id);
      return job ? statusOf(job) : { id, model, state: 'unknown', attemptsMade: 0 };
    },
    wait(id, model, timeoutMs) {
      assertOpen();
      const job = find(id);
      return job ? waits.wait(job, timeoutMs) : Promise.reject(jobNotFound(id, model));
    },
    cancel(id, model) {
      assertOpen();
      const job = find(id);
      if (!job) {
        throw new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} does not exist (or was trimmed)`, {
          details: { jobId: id, model },
        });
      }
      if (job.state !== 'waiting' && job.state !== 'prioritized' && job.state !== 'delayed') {
        throw new ConveyorError(
          'ERR_JOB_NOT_CANCELLABLE',
          `job ${id} is ${job.state}; only a job that has not started can be cancelled`,
          { details: { jobId: id, model, state: job.state } },
        );
      }
      clearTimeout(job.retry);
      ready.remove(job);
      jobs.delete(id);
      setState(job, 'unknown');
      options.log.debug({ jobId: id, model }, 'job cancelled');
    },
    subscribe(id, listener) {
      assertOpen();
      const job = find(id);
      if (!job) return { state: 'unknown', stop: () => undefined };
      return { state: job.state, stop: listen(job, listener) };
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      pump();
    },
    async close() {
      if (closed) return;
      closed = true;
      waits.abortAll(new ConveyorError('ERR_CLOSED', 'the client was closed while waiting'));
      for (const job of jobs.values()) clearTimeout(job.retry);
      ready.clear();
      await Promise.allSettled([...running]);
    },
  };
}
