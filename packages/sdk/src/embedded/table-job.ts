import type { ConveyorError } from '@conveyor/shared';
import type { JobEvent, JobState, JobStatus, Prediction } from '../client.js';
import type { PreparedJob } from '../request.js';

/** A job of the embedded job table. */
export interface TableJob {
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
  /** Created by the first subscriber: most jobs never have one. */
  listeners?: Set<(event: JobEvent) => void>;
}

export function createTableJob(prepared: PreparedJob, seq: number): TableJob {
  return {
    id: prepared.jobId,
    model: prepared.model,
    seq,
    prepared,
    state: 'waiting',
    attemptsMade: 0,
    enqueuedAt: Date.now(),
  };
}

/** Sets a job's state and tells its listeners. */
export function setState(job: TableJob, state: JobState): void {
  job.state = state;
  if (job.listeners === undefined || job.listeners.size === 0) return;
  const event: JobEvent = { type: 'state', state };
  for (const fn of [...job.listeners]) fn(event);
}

export function listen(job: TableJob, listener: (event: JobEvent) => void): () => void {
  (job.listeners ??= new Set()).add(listener);
  return () => job.listeners?.delete(listener);
}

export function statusOf(job: TableJob): JobStatus {
  const status: JobStatus = {
    id: job.id,
    model: job.model,
    state: job.state,
    attemptsMade: job.attemptsMade,
    enqueuedAt: job.enqueuedAt,
  };
  if (job.startedAt !== undefined) status.startedAt = job.startedAt;
  if (job.finishedAt !== undefined) status.finishedAt = job.finishedAt;
  if (job.outcome?.ok === false)
    status.error = { code: job.outcome.error.code, message: job.outcome.error.message };
  return status;
}

const priorityOf = (job: TableJob) => job.prepared?.options.priority ?? 0;

/**
 * Jobs ready to run, in BullMQ's order: jobs without a priority first, then priority 1 before 2,
 * first in first out within each.
 */
export function createReadyQueue() {
  const ready: TableJob[] = [];
  return {
    get length() {
      return ready.length;
    },
    /** Puts a job in its place and marks it waiting or prioritized. */
    push(job: TableJob): void {
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
    },
    shift: (): TableJob | undefined => ready.shift(),
    remove(job: TableJob): void {
      const index = ready.indexOf(job);
      if (index >= 0) ready.splice(index, 1);
    },
    clear(): void {
      ready.length = 0;
    },
  };
}
