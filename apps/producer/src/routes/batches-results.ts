import type { JobRecord, Prediction } from '@conveyor/sdk';
import { isConveyorError, toConveyorError, type ConveyorError } from '@conveyor/shared';
import type { BatchResultLine } from './batches-schemas.js';
import type { JobOutcome } from './jobs-schemas.js';
import {
  failedOutcome,
  outcomeOf,
  readJob,
  resultBody,
  statusBody,
  type JobReader,
} from './jobs-view.js';
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
function lineOfRecord(
  index: number,
  jobId: string,
  record: JobRecord | undefined,
): BatchResultLine {
  if (!record) return { job_id: jobId, index, status: 'unknown' };
  const outcome = outcomeOf(record);
  return outcome
    ? lineOf(index, jobId, outcome)
    : { job_id: jobId, index, status: statusBody(record).state };
}

const text = (line: BatchResultLine) => `${JSON.stringify(line)}\n`;
const anyone = () => true;

/**
 * Results in the order of the batch's items: each line is written once its job ended, so the
 * stream advances at the pace of the slowest job so far. After `waitMs` (or when `signal` aborts)
 * the remaining jobs are written with the state they are in.
 */
export async function* resultsInInputOrder(
  client: JobReader,
  ids: readonly string[],
  waitMs: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const until = Date.now() + waitMs;
  for (let start = 0; start < ids.length; start += WINDOW) {
    const window = ids.slice(start, start + WINDOW);
    const records = await Promise.all(window.map((id) => readJob(client, id)));
    for (const [offset, id] of window.entries()) {
      let record = records[offset];
      const left = signal.aborted ? 0 : until - Date.now();
      if (!isFinished(record) && left > 0)
        record = await readWhenFinished(client, id, left, signal, anyone);
      yield text(lineOfRecord(start + offset, id, record));
    }
  }
}

/** How a wait for one job ended: its prediction, its failure, or no end yet (undefined). */
type Ended = { id: string; index: number; prediction?: Prediction; error?: ConveyorError };

/** A wait's error that says the job has not ended (or is gone), not that it failed. */
const notEnded = (error: ConveyorError) =>
  ['ERR_JOB_TIMEOUT', 'ERR_JOB_NOT_FOUND', 'ERR_CLOSED', 'ERR_QUEUE_UNAVAILABLE'].includes(
    error.code,
  );

/**
 * Results in the order the jobs end, each waited for through the SDK's shared event listener
 * (which subscribes before it reads, so none is missed). After `waitMs` (or when `signal`
 * aborts) the rest are written with the state they are in.
 */
export function resultsInCompletionOrder(
  client: JobReader,
  ids: readonly string[],
  waitMs: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const until = Date.now() + waitMs;
  const ended: Ended[] = [];
  let wake = new AbortController();
  const settle = (result: Ended) => {
    ended.push(result);
    wake.abort();
  };
  for (const [index, id] of ids.entries()) {
    client
      .job(id)
      .result({ timeoutMs: Math.max(1, waitMs) })
      .then(
        (prediction) => settle({ id, index, prediction }),
        (error: unknown) => settle({ id, index, error: toConveyorError(error) }),
      );
  }

  async function* lines(): AsyncGenerator<string> {
    const open = new Map(ids.map((id, index) => [id, index]));
    while (open.size > 0) {
      for (const { id, index, prediction, error } of ended.splice(0)) {
        if (!open.has(id)) continue;
        if (prediction) {
          open.delete(id);
          yield text(
            lineOf(index, id, {
              job_id: id,
              model: prediction.model,
              status: 'completed',
              result: resultBody(prediction),
            }),
          );
        } else if (error && isConveyorError(error) && !notEnded(error)) {
          open.delete(id);
          yield text(lineOf(index, id, failedOutcome(id, error)));
        }
      }
      const left = until - Date.now();
      if (open.size === 0 || left <= 0 || signal.aborted) break;
      if (ended.length === 0) await pause(left, AbortSignal.any([signal, wake.signal]));
      wake = new AbortController();
    }
    for (const [id, index] of open) yield text(lineOfRecord(index, id, await readJob(client, id)));
  }
  return lines();
}
