import type { JobRecord } from '@conveyor/sdk';
import { readJob, type JobReader } from './jobs-view.js';

/** True for the states a job does not leave. */
export const isFinished = (record: JobRecord | undefined): boolean =>
  record === undefined || record.state === 'completed' || record.state === 'failed';

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
 * Reads a job, and if `mayRead` allows it and it has not finished, waits for it through the SDK's
 * shared event listener for at most `ms` or until `signal` aborts, then reads it again. Redis is
 * not polled meanwhile.
 */
export async function readWhenFinished(
  client: JobReader,
  id: string,
  ms: number,
  signal: AbortSignal,
  mayRead: (record: JobRecord) => boolean,
): Promise<JobRecord | undefined> {
  const first = await readJob(client, id);
  if (ms <= 0 || isFinished(first) || !first || !mayRead(first)) return first;
  // Any end of the wait (the result, the job's failure, a timeout) is followed by a read.
  const ended = new AbortController();
  void client
    .job(id)
    .result({ timeoutMs: ms })
    .catch(() => undefined)
    .then(() => ended.abort());
  await pause(ms, AbortSignal.any([signal, ended.signal]));
  return readJob(client, id);
}
