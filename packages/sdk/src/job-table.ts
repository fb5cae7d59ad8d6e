import { ConveyorError, toConveyorError, type Logger } from '@conveyor/shared';
import type { JobEvent, JobState, JobStatus, Prediction } from './client.js';
import type { PreparedJob } from './request.js';

/** How long finished jobs are kept, like BullMQ's removeOnComplete / removeOnFail. */
export interface Retention {
  count: number;
  ageSeconds: number;
}

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

interface TableJob {
  readonly id: string;
  readonly model: string;
  readonly seq: number;
  /** Dropped once the job has finished, so kept results do not hold their inputs. */
  prepared: PreparedJob | undefined;
  state: JobState;
  attemptsMade: number;
  readonly enqueuedAt: number;
  startedAt?: number;
  finishedAt?: number;
  outcome?: { ok: true; prediction: Prediction } | { ok: false; error: ConveyorError };
  retry?: NodeJS.Timeout | undefined;
  readonly listeners: Set<(event: JobEvent) => void>;
}

/**
 * The embedded client's queue: an in-memory job table with BullMQ's semantics. Jobs wait in
 * priority order (jobs without a priority first, then priority 1 before 2, first in first out
 * within each), at most `concurrency` run at once, retryable failures are retried with
 * exponential backoff, and finished jobs are kept by count and age.
 */
export interface JobTable {
  /** Adds a job, or returns the existing one of the same id (an idempotency key). */
  add(prepared: PreparedJob): void;
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
  const ready: TableJob[] = [];
  const finished = { completed: new Map<string, TableJob>(), failed: new Map<string, TableJob>() };
  const waits = new Set<(error: ConveyorError) => void>();
  const running = new Set<Promise<void>>();
  let seq = 0;
  let paused = false;
  let closed = false;

  const emit = (job: TableJob, event: JobEvent) => {
    for (const fn of [...job.listeners]) fn(event);
  };
  const setState = (job: TableJob, state: JobState) => {
    job.state = state;
    emit(job, { type: 'state', state });
  };

  /** Drops finished jobs past their retention, as BullMQ trims them. */
  const trim = () => {
    const now = Date.now();
    for (const kind of ['completed', 'failed'] as const) {
      const keep = kind === 'completed' ? options.keepCompleted : options.keepFailed;
      const list = finished[kind];
      for (const [id, job] of list) {
        const old = now - (job.finishedAt ?? now) > keep.ageSeconds * 1000;
        if (list.size <= keep.count && !old) break;
        list.delete(id);
        jobs.delete(id);
      }
    }
  };

  const find = (id: string): TableJob | undefined => {
    trim();
    return jobs.get(id);
  };

  const priorityOf = (job: TableJob) => job.prepared?.options.priority ?? 0;
  const enqueueReady = (job: TableJob) => {
    setState(job, priorityOf(job) === 0 ? 'waiting' : 'prioritized');
    // Binary search for the first job that should run after this one.
    let lo = 0;
    let hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = ready[mid] as TableJob;
      const before =
        priorityOf(other) < priorityOf(job) ||
        (priorityOf(other) === priorityOf(job) && other.seq < job.seq);
      if (before) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, job);
  };

  const finish = (job: TableJob, outcome: NonNullable<TableJob['outcome']>) => {
    job.outcome = outcome;
    job.finishedAt = Date.now();
    job.prepared = undefined;
    const state = outcome.ok ? 'completed' : 'failed';
    finished[state].set(job.id, job);
    setState(job, state);
    trim();
  };

  const attempt = async (job: TableJob): Promise<void> => {
    const prepared = job.prepared as PreparedJob;
    const takenAt = Date.now();
    job.startedAt = takenAt;
    setState(job, 'active');
    try {
      if (prepared.deadline !== undefined && takenAt > prepared.deadline) {
        throw new ConveyorError(
          'ERR_DEADLINE_EXCEEDED',
          `deadline ${new Date(prepared.deadline).toISOString()} passed ${takenAt - prepared.deadline} ms before the job started`,
        );
      }
      const prediction = await options.run(prepared, job.enqueuedAt, takenAt);
      job.attemptsMade += 1;
      if (!closed) finish(job, { ok: true, prediction });
    } catch (thrown) {
      const error = toConveyorError(thrown);
      job.attemptsMade += 1;
      if (closed) return;
      options.log.warn(
        { jobId: job.id, model: job.model, code: error.code, attempt: job.attemptsMade },
        'job failed',
      );
      if (error.retryable && job.attemptsMade < options.attempts) {
        setState(job, 'delayed');
        job.retry = setTimeout(
          () => {
            job.retry = undefined;
            enqueueReady(job);
            pump();
          },
          options.backoffMs * 2 ** (job.attemptsMade - 1),
        );
        return;
      }
      finish(job, { ok: false, error });
    }
  };

  const pump = () => {
    while (!paused && !closed && running.size < options.concurrency && ready.length > 0) {
      const job = ready.shift() as TableJob;
      const run: Promise<void> = attempt(job).finally(() => {
        running.delete(run);
        pump();
      });
      running.add(run);
    }
  };

  const notFound = (id: string, model: string, why = 'does not exist (or was trimmed)') =>
    new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} of model "${model}" ${why}`, {
      details: { jobId: id, model },
    });

  const assertOpen = () => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
  };

  return {
    add(prepared) {
      assertOpen();
      if (find(prepared.jobId)) return;
      const job: TableJob = {
        id: prepared.jobId,
        model: prepared.model,
        seq: seq++,
        prepared,
        state: 'waiting',
        attemptsMade: 0,
        enqueuedAt: Date.now(),
        listeners: new Set(),
      };
      jobs.set(job.id, job);
      enqueueReady(job);
      pump();
    },
    status(id, model) {
      assertOpen();
      const job = find(id);
      if (!job) return { id, model, state: 'unknown', attemptsMade: 0 };
      const status: JobStatus = {
        id,
        model,
        state: job.state,
        attemptsMade: job.attemptsMade,
        enqueuedAt: job.enqueuedAt,
      };
      if (job.startedAt !== undefined) status.startedAt = job.startedAt;
      if (job.finishedAt !== undefined) status.finishedAt = job.finishedAt;
      if (job.outcome?.ok === false)
        status.error = { code: job.outcome.error.code, message: job.outcome.error.message };
      return status;
    },
    wait(id, model, timeoutMs) {
      assertOpen();
      const job = find(id);
      if (!job) return Promise.reject(notFound(id, model));
      return new Promise<Prediction>((resolve, reject) => {
        const settle = () => {
          if (!job.outcome) return false;
          if (job.outcome.ok) resolve(job.outcome.prediction);
          else reject(job.outcome.error);
          return true;
        };
        if (settle()) return;
        const done = () => {
          clearTimeout(timer);
          job.listeners.delete(listener);
          waits.delete(abort);
        };
        const abort = (error: ConveyorError) => {
          done();
          reject(error);
        };
        const listener = (event: JobEvent) => {
          if (event.type !== 'state') return;
          if (event.state === 'unknown') abort(notFound(id, model, 'was removed while waiting'));
          else if (settle()) done();
        };
        const timer = setTimeout(() => {
          abort(
            new ConveyorError(
              'ERR_JOB_TIMEOUT',
              `job ${id} did not finish within ${timeoutMs} ms; it is ${job.state}, fetch its result later`,
              { details: { jobId: id, model, state: job.state } },
            ),
          );
        }, timeoutMs);
        job.listeners.add(listener);
        waits.add(abort);
      });
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
      const index = ready.indexOf(job);
      if (index >= 0) ready.splice(index, 1);
      jobs.delete(id);
      setState(job, 'unknown');
      options.log.debug({ jobId: id, model }, 'job cancelled');
    },
    subscribe(id, listener) {
      assertOpen();
      const job = find(id);
      if (!job) return { state: 'unknown', stop: () => undefined };
      job.listeners.add(listener);
      return { state: job.state, stop: () => job.listeners.delete(listener) };
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
      const error = new ConveyorError('ERR_CLOSED', 'the client was closed while waiting');
      for (const abort of [...waits]) abort(error);
      for (const job of jobs.values()) clearTimeout(job.retry);
      ready.length = 0;
      await Promise.allSettled([...running]);
    },
  };
}
