import { queueOfJobId } from '@conveyor/shared';
import type { JobEvent } from '../plugins/job-events.js';
import type { BatchResultLine } from './batches-schemas.js';
import type { JobsContext } from './jobs-context.js';
import type { JobOutcome } from './jobs-schemas.js';
import { outcomeOf, outcomeOfJob, readJob, type ReadJob } from './jobs-view.js';
import { isFinished, pause, readWhenFinished } from './jobs-wait.js';

/** Jobs read from Redis at once while streaming results. */
const WINDOW = 200;

function lineOf(index: number, jobId: string, outcome: JobOutcome): BatchResultLine {
  if (outcome.status === 'failed')
    return { job_id: jobId, index, status: 'failed', error: outcome.error };
  const { model_version, outputs, timings } = outcome.result;
  return { job_id: jobId, index, status: 'completed', model_version, outputs, timings };
}

/** The line of a job read from Redis: its outcome when it ended, else the state it is in. */
function lineOfRead(index: number, jobId: string, read: ReadJob | undefined): BatchResultLine {
  if (!read) return { job_id: jobId, index, status: 'unknown' };
  const outcome = outcomeOfJob(read);
  return outcome ? lineOf(index, jobId, outcome) : { job_id: jobId, index, status: read.state };
}

const text = (line: BatchResultLine) => `${JSON.stringify(line)}\n`;

/**
 * Results in the order of the batch's items: each line is written once its job ended, so the
 * stream advances at the pace of the slowest job so far. After `waitMs` (or when `signal` aborts)
 * the remaining jobs are written with the state they are in.
 */
export async function* resultsInInputOrder(
  context: JobsContext,
  ids: readonly string[],
  waitMs: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const until = Date.now() + waitMs;
  for (let start = 0; start < ids.length; start += WINDOW) {
    const window = ids.slice(start, start + WINDOW);
    const reads = await Promise.all(window.map((id) => readJob(context.queues, id)));
    for (const [offset, id] of window.entries()) {
      let read = reads[offset];
      const left = signal.aborted ? 0 : until - Date.now();
      if (!isFinished(read) && left > 0) read = await readWhenFinished(context, id, left, signal);
      yield text(lineOfRead(start + offset, id, read));
    }
  }
}

/**
 * Results in the order the jobs end: those already ended first, then each as its model's event
 * stream announces its end. Resolves once every job is subscribed to, before any is read, so none
 * is missed and a caller can send its response head knowing that. After `waitMs` (or when
 * `signal` aborts, which also drops the subscriptions of a stream never read) the rest are
 * written with the state they are in.
 */
export async function resultsInCompletionOrder(
  context: JobsContext,
  ids: readonly string[],
  waitMs: number,
  signal: AbortSignal,
): Promise<AsyncGenerator<string>> {
  const until = Date.now() + waitMs;
  const indexOf = new Map(ids.map((id, index) => [id, index]));
  const ended: { id: string; event: JobEvent }[] = [];
  let wake = new AbortController();
  const unsubscribes: (() => void)[] = [];
  const unsubscribeAll = () => {
    for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
  };
  signal.addEventListener('abort', unsubscribeAll, { once: true });
  try {
    for (const id of ids) {
      unsubscribes.push(
        await context.events.subscribe(queueOfJobId(id), id, (event) => {
          if (event.type === 'completed' || event.type === 'failed' || event.type === 'removed') {
            ended.push({ id, event });
            wake.abort();
          }
        }),
      );
    }
  } catch (error) {
    unsubscribeAll();
    throw error;
  }

  async function* lines(): AsyncGenerator<string> {
    try {
      const open = new Set(ids);
      for (let start = 0; start < ids.length; start += WINDOW) {
        const window = ids.slice(start, start + WINDOW);
        const reads = await Promise.all(window.map((id) => readJob(context.queues, id)));
        for (const [offset, id] of window.entries()) {
          const read = reads[offset];
          if (!isFinished(read)) continue;
          open.delete(id);
          yield text(lineOfRead(start + offset, id, read));
        }
      }
      while (open.size > 0) {
        for (const { id, event } of ended.splice(0)) {
          if (!open.delete(id)) continue;
          const index = indexOf.get(id) ?? 0;
          if (event.type === 'completed') {
            const outcome = outcomeOf(id, { status: 'completed', returnvalue: event.returnvalue });
            yield text(lineOf(index, id, outcome));
          } else if (event.type === 'failed') {
            const outcome = outcomeOf(id, { status: 'failed', failedReason: event.failedReason });
            yield text(lineOf(index, id, outcome));
          } else yield text({ job_id: id, index, status: 'unknown' });
        }
        const left = until - Date.now();
        if (open.size === 0 || left <= 0 || signal.aborted) break;
        if (ended.length === 0) await pause(left, AbortSignal.any([signal, wake.signal]));
        wake = new AbortController();
      }
      for (const id of open) {
        const read = await readJob(context.queues, id);
        yield text(lineOfRead(indexOf.get(id) ?? 0, id, read));
      }
    } finally {
      unsubscribeAll();
      signal.removeEventListener('abort', unsubscribeAll);
    }
  }
  return lines();
}
