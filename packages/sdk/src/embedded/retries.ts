import { ConveyorError, toConveyorError, type Logger } from '@conveyor/shared';
import type { Prediction } from '../client.js';
import type { PreparedJob } from '../request.js';
import { setState, type TableJob } from './table-job.js';

/** What an attempt needs from its table. */
export interface AttemptContext {
  /** Runs one attempt of a job. */
  run(job: PreparedJob, enqueuedAt: number, takenAt: number): Promise<Prediction>;
  /** Tries per job for retryable failures. */
  attempts: number;
  /** First retry delay in ms, doubled each try. */
  backoffMs: number;
  log: Logger;
  isClosed(): boolean;
  finish(job: TableJob, outcome: NonNullable<TableJob['outcome']>): void;
  /** Puts a job whose backoff has passed back among the ready jobs. */
  requeue(job: TableJob): void;
}

function checkDeadline(prepared: PreparedJob, takenAt: number): void {
  if (prepared.deadline === undefined || takenAt <= prepared.deadline) return;
  throw new ConveyorError(
    'ERR_DEADLINE_EXCEEDED',
    `deadline ${new Date(prepared.deadline).toISOString()} passed ${takenAt - prepared.deadline} ms before the job started`,
  );
}

/** The longest delay a Node timer holds (2^31 - 1 ms, 24.8 days): past it, one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The wait before a job's next try after `attemptsMade` tries: `backoffMs` doubled each try, as
 * BullMQ's exponential backoff, held to what a timer can wait (BullMQ's delays live in Redis).
 */
export function retryDelayMs(backoffMs: number, attemptsMade: number): number {
  return Math.min(MAX_TIMER_MS, backoffMs * 2 ** (attemptsMade - 1));
}

/**
 * Runs one attempt of a job: it completes, fails, or (a retryable failure with tries left) waits
 * in `delayed` for an exponential backoff and goes back among the ready jobs, as on BullMQ.
 */
export async function attemptJob(job: TableJob, ctx: AttemptContext): Promise<void> {
  const prepared = job.prepared as PreparedJob;
  const takenAt = Date.now();
  job.startedAt = takenAt;
  setState(job, 'active');
  try {
    checkDeadline(prepared, takenAt);
    const prediction = await ctx.run(prepared, job.enqueuedAt, takenAt);
    job.attemptsMade += 1;
    if (!ctx.isClosed()) ctx.finish(job, { ok: true, prediction });
  } catch (thrown) {
    const error = toConveyorError(thrown);
    job.attemptsMade += 1;
    if (ctx.isClosed()) return;
    ctx.log.warn(
      { jobId: job.id, model: job.model, code: error.code, attempt: job.attemptsMade },
      'job failed',
    );
    if (!error.retryable || job.attemptsMade >= ctx.attempts) {
      ctx.finish(job, { ok: false, error });
      return;
    }
    setState(job, 'delayed');
    job.retry = setTimeout(
      () => {
        job.retry = undefined;
        ctx.requeue(job);
      },
      retryDelayMs(ctx.backoffMs, job.attemptsMade),
    );
  }
}
