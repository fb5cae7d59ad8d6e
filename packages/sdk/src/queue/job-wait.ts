import {
  ConveyorError,
  parseFailure,
  rejectionOf,
  routeOfJobId,
  toConveyorError,
} from '@conveyor/shared';
import type { JobState, Prediction } from '../client.js';
import type { QueueContext } from './context.js';
import type { Expiring } from './deadlines.js';
import type { QueueEvent } from './events.js';
import { readJob, settledOutcome, type ReadJob } from './job-read.js';

const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'failed']);

const notFound = (id: string, model: string, why: string) =>
  new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} of model "${model}" ${why}`, {
    details: { jobId: id, model },
  });

/**
 * One wait for a job's end. A class rather than a set of closures: a client waits on thousands of
 * jobs at once, and each closure is an allocation of its own.
 */
class JobWait implements Expiring {
  private done = false;
  /** Where ctx.deadlines keeps it (see deadlines.ts). */
  deadline = 0;
  newer: Expiring | undefined = undefined;
  older: Expiring | undefined = undefined;

  constructor(
    private readonly ctx: QueueContext,
    readonly id: string,
    readonly model: string,
    private readonly queue: string,
    private readonly timeoutMs: number,
    private readonly resolve: (prediction: Prediction) => void,
    private readonly reject: (error: ConveyorError) => void,
  ) {}

  /** Ends the wait; false when it had ended already. */
  private finish(): boolean {
    if (this.done) return false;
    this.done = true;
    this.ctx.deadlines.remove(this, this.timeoutMs);
    this.ctx.hub.unsubscribe(this.id, this);
    this.ctx.waits.delete(this);
    return true;
  }

  fail(error: unknown): void {
    if (this.finish()) this.reject(toConveyorError(error));
  }

  private succeed(prediction: Prediction): void {
    if (this.finish()) this.resolve(prediction);
  }

  /** The hub calls it with the job's end (the wait listens to ends only). */
  onEvent(entry: QueueEvent): void {
    const { ctx, id } = this;
    if (entry.event === 'completed') {
      let returnvalue: unknown;
      try {
        returnvalue = JSON.parse(entry.fields.returnvalue ?? 'null');
      } catch (error) {
        return this.fail(error);
      }
      let now: Prediction | undefined;
      try {
        // A result whose outputs are all in the return value is decoded now, with no promise.
        now = ctx.outputs.inline(id, returnvalue);
      } catch (error) {
        return this.fail(error instanceof ConveyorError ? error : ctx.unavailable(error));
      }
      if (now) return this.succeed(now);
      const key = ctx.queues.named(this.queue).toKey(id);
      void ctx.outputs.prediction(id, key, returnvalue).then(
        (prediction) => this.succeed(prediction),
        (error: unknown) =>
          this.fail(error instanceof ConveyorError ? error : ctx.unavailable(error)),
      );
    } else if (entry.event === 'failed') {
      this.fail(parseFailure(entry.fields.failedReason ?? '', { jobId: id, model: this.model }));
    } else if (entry.event === 'removed') {
      this.fail(notFound(id, this.model, 'was removed while waiting'));
    }
  }

  /** Reads the job: settles the wait when it has finished (or is gone), else calls `then`. */
  private current(then: (found: ReadJob) => void): void {
    void readJob(this.ctx, this.id).then(
      (found) => {
        if (this.done) return;
        if (!found)
          return this.fail(notFound(this.id, this.model, 'does not exist (or was trimmed)'));
        if (!FINISHED.has(found.state)) return then(found);
        try {
          this.succeed(settledOutcome(this.id, found));
        } catch (error) {
          this.fail(error);
        }
      },
      (error: unknown) => this.fail(error),
    );
  }

  private armTimer(): void {
    if (!this.done) this.ctx.deadlines.add(this, this.timeoutMs);
  }

  /** The timeout passed: the job's state says why it has not ended. */
  expire(): void {
    const { id, model, timeoutMs } = this;
    this.current(({ state }) =>
      this.fail(
        new ConveyorError(
          'ERR_JOB_TIMEOUT',
          `job ${id} did not finish within ${timeoutMs} ms; it is ${state}, fetch its result later`,
          { details: { jobId: id, model, state } },
        ),
      ),
    );
  }

  begin(start: (() => Promise<unknown>) | undefined): void {
    const { ctx, id } = this;
    ctx.hub.listen(id, this, true);
    ctx.waits.add(this);
    if (start)
      return void start().then(
        () => this.armTimer(),
        (error: unknown) => this.fail(error),
      );
    // A job this client added has its end kept by the listener: no read is needed.
    const kept = ctx.hub.take(id);
    if (kept === undefined) return this.current(() => this.armTimer());
    this.armTimer();
    if (kept !== 'pending') this.onEvent(kept);
  }
}

/** Starts a wait once its queue's stream is watched. */
const begin = (
  ctx: QueueContext,
  id: string,
  model: string,
  queue: string,
  timeoutMs: number,
  start: (() => Promise<unknown>) | undefined,
) =>
  new Promise<Prediction>((resolve, reject) =>
    new JobWait(ctx, id, model, queue, timeoutMs, resolve, reject).begin(start),
  );

/**
 * Waits for a job through the shared listener: watch the model's stream, subscribe to the job,
 * and only then read its state, so a job that finishes in between is still seen. With `start`
 * (which enqueues a job whose id cannot exist yet), the job is enqueued after the subscription
 * instead, and no read is needed: its every event comes after. A `completed` event carries the
 * small return value; large outputs are read from the job, pipelined with other results.
 */
export function waitFor(
  ctx: QueueContext,
  id: string,
  timeoutMs: number,
  start?: () => Promise<unknown>,
): Promise<Prediction> {
  let route: { model: string; queue: string };
  try {
    ctx.assertOpen();
    route = routeOfJobId(id);
  } catch (error) {
    return rejectionOf(error);
  }
  const { model, queue } = route;
  // Once its queue is watched, a wait starts at once: no promise of the watch to wait for.
  if (ctx.hub.watching(queue)) return begin(ctx, id, model, queue, timeoutMs, start);
  return ctx.hub
    .watch(queue)
    .catch(ctx.rejectUnavailable)
    .then(() => begin(ctx, id, model, queue, timeoutMs, start));
}
