import {
  ConveyorError,
  modelOfJobId,
  parseFailure,
  queueOfJobId,
  toConveyorError,
} from '@conveyor/shared';
import type { JobState, Prediction } from '../client.js';
import type { QueueContext } from './context.js';
import type { QueueEvent } from './events.js';
import { readJob, settledOutcome, type ReadJob } from './job-read.js';

const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'failed']);

const notFound = (id: string, model: string, why: string) =>
  new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} of model "${model}" ${why}`, {
    details: { jobId: id, model },
  });

/**
 * Waits for a job through the shared listener: watch the model's stream, subscribe to the job,
 * and only then read its state, so a job that finishes in between is still seen. With `start`
 * (which enqueues a job whose id cannot exist yet), the job is enqueued after the subscription
 * instead, and no read is needed: its every event comes after. A `completed` event carries the
 * small return value; large outputs are read from the job, pipelined with other results.
 */
export async function waitFor(
  ctx: QueueContext,
  id: string,
  timeoutMs: number,
  start?: () => Promise<unknown>,
): Promise<Prediction> {
  ctx.assertOpen();
  const model = modelOfJobId(id);
  const queue = queueOfJobId(id);
  await ctx.hub.watch(queue).catch(ctx.rejectUnavailable);
  return new Promise<Prediction>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      ctx.waits.delete(fail);
      settle();
    };
    const fail = (error: unknown) => finish(() => reject(toConveyorError(error)));
    const succeed = (prediction: Prediction) => finish(() => resolve(prediction));
    const onEvent = (entry: QueueEvent) => {
      if (entry.event === 'completed') {
        let returnvalue: unknown;
        try {
          returnvalue = JSON.parse(entry.fields.returnvalue ?? 'null');
        } catch (error) {
          return fail(error);
        }
        const key = ctx.queues.named(queue).toKey(id);
        ctx.outputs.prediction(id, key, returnvalue).then(succeed, (error: unknown) => {
          fail(error instanceof ConveyorError ? error : ctx.unavailable(error));
        });
      } else if (entry.event === 'failed') {
        fail(parseFailure(entry.fields.failedReason ?? '', { jobId: id, model }));
      } else if (entry.event === 'removed') {
        fail(notFound(id, model, 'was removed while waiting'));
      }
    };
    const unsubscribe = ctx.hub.subscribe(id, onEvent);
    ctx.waits.add(fail);
    const current = (then: (found: ReadJob) => void): void =>
      void readJob(ctx, id).then((found) => {
        if (done) return;
        if (!found) return fail(notFound(id, model, 'does not exist (or was trimmed)'));
        if (!FINISHED.has(found.state)) return then(found);
        try {
          succeed(settledOutcome(id, found));
        } catch (error) {
          fail(error);
        }
      }, fail);
    const armTimer = () => {
      if (done) return;
      timer = setTimeout(() => {
        current(({ state }) =>
          fail(
            new ConveyorError(
              'ERR_JOB_TIMEOUT',
              `job ${id} did not finish within ${timeoutMs} ms; it is ${state}, fetch its result later`,
              { details: { jobId: id, model, state } },
            ),
          ),
        );
      }, timeoutMs);
    };
    if (start) return void start().then(armTimer, fail);
    // A job this client added has its end kept by the listener: no read is needed.
    const kept = ctx.hub.take(id);
    if (kept === undefined) return current(armTimer);
    armTimer();
    if (kept !== 'pending') onEvent(kept);
  });
}
