import { queueOfJobId } from '@conveyor/shared';
import type { JobsContext } from './jobs-context.js';
import { readJob, type ReadJob } from './jobs-view.js';

/** True for the states a job does not leave. */
export const isFinished = (read: ReadJob | undefined): boolean =>
  read === undefined || read.state === 'completed' || read.state === 'failed';

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Reads a job, and if it has not finished, waits for its model's event stream to announce its end
 * (or removal) for at most `ms` or until `signal` aborts, then reads it again. Subscribes before
 * the first read, so an end between the two is not missed; Redis is not polled meanwhile.
 */
export async function readWhenFinished(
  context: JobsContext,
  id: string,
  ms: number,
  signal: AbortSignal,
): Promise<ReadJob | undefined> {
  if (ms <= 0) return readJob(context.queues, id);
  const ended = new AbortController();
  const unsubscribe = await context.events.subscribe(queueOfJobId(id), id, (event) => {
    if (event.type === 'completed' || event.type === 'failed' || event.type === 'removed')
      ended.abort();
  });
  try {
    const read = await readJob(context.queues, id);
    if (isFinished(read)) return read;
    await pause(ms, AbortSignal.any([signal, ended.signal]));
    return await readJob(context.queues, id);
  } finally {
    unsubscribe();
  }
}
