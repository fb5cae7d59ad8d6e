import type { JobRecord, Prediction } from '@conveyor/sdk';
import { ConveyorError, isConveyorError, toConveyorError } from '@conveyor/shared';
import { itemPrediction, type BatchEntry } from './batches-entries.js';
import type { BatchResultLine } from './batches-schemas.js';
import { failureOf, unpackFailed, type BatchSource } from './batches-unpack.js';
import { failedOutcome, readJob, resultBody, statusBody, type JobReader } from './jobs-view.js';
import { isFinished, pause, readWhenFinished } from './jobs-wait.js';

/** Jobs read from Redis at once while streaming results. */
const WINDOW = 200;

function failedLine(index: number, jobId: string, error: ConveyorError): BatchResultLine {
  const outcome = failedOutcome(jobId, error);
  return outcome.status === 'failed'
    ? { job_id: jobId, index, status: 'failed', error: outcome.error }
    : { job_id: jobId, index, status: 'unknown' };
}

/** The line of an item whose job completed: for a packed job, the item's own rows. */
function completedLine(index: number, entry: BatchEntry, prediction: Prediction): BatchResultLine {
  const own = itemPrediction(prediction, entry);
  if (own === undefined) {
    const error = new ConveyorError(
      'ERR_INFERENCE_FAILED',
      "the packed job's outputs do not have one row per input row",
    );
    return failedLine(index, entry.jobId, error);
  }
  const { model_version, outputs, timings } = resultBody(own);
  return { job_id: entry.jobId, index, status: 'completed', model_version, outputs, timings };
}

/** The line of an item from its job's record: its outcome when it ended, else the job's state. */
function lineOfRecord(
  index: number,
  entry: BatchEntry,
  record: JobRecord | undefined,
): BatchResultLine {
  if (!record) return { job_id: entry.jobId, index, status: 'unknown' };
  const { outcome } = record;
  if (!outcome) return { job_id: entry.jobId, index, status: statusBody(record).state };
  return outcome.ok
    ? completedLine(index, entry, outcome.prediction)
    : failedLine(index, entry.jobId, outcome.error);
}

const text = (line: BatchResultLine) => `${JSON.stringify(line)}\n`;

/** Tells the batch's sizer about a packed job's prediction, once per job. */
function learnFrom(
  source: BatchSource,
  seen: Set<string>,
  entry: BatchEntry,
  prediction: Prediction,
) {
  if (entry.rows === undefined || seen.has(entry.jobId)) return;
  seen.add(entry.jobId);
  source.learn?.(prediction, Object.values(prediction.outputs)[0]?.shape[0] ?? 0);
}
const anyone = () => true;

/**
 * Entry `index`'s job once it ended (or when the wait is over). A packed job that failed for its
 * data is unpacked first, and the item's own job waited for instead.
 */
async function settled(
  client: JobReader,
  source: BatchSource,
  records: Map<string, JobRecord | undefined>,
  index: number,
  until: number,
  signal: AbortSignal,
): Promise<JobRecord | undefined> {
  for (;;) {
    const { jobId } = source.entries[index] as BatchEntry;
    let record = records.has(jobId) ? records.get(jobId) : await readJob(client, jobId);
    const left = signal.aborted ? 0 : until - Date.now();
    if (!isFinished(record) && left > 0)
      record = await readWhenFinished(client, jobId, left, signal, anyone);
    records.set(jobId, record);
    if (!(await unpackFailed(source, index, failureOf(record)))) return record;
  }
}

/**
 * Results in the order of the batch's items: each line is written once its job ended, so the
 * stream advances at the pace of the slowest job so far. After `waitMs` (or when `signal` aborts)
 * the remaining jobs are written with the state they are in. A packed job is read once per window
 * for all its items.
 */
export async function* resultsInInputOrder(
  client: JobReader,
  source: BatchSource,
  waitMs: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const until = Date.now() + waitMs;
  const { entries } = source;
  const seen = new Set<string>();
  for (let start = 0; start < entries.length; start += WINDOW) {
    const end = Math.min(entries.length, start + WINDOW);
    const ids = [...new Set(entries.slice(start, end).map((e) => e.jobId))];
    const read = await Promise.all(ids.map((id) => readJob(client, id)));
    const records = new Map(ids.map((id, i) => [id, read[i]]));
    for (let index = start; index < end; index += 1) {
      const record = await settled(client, source, records, index, until, signal);
      const entry = entries[index] as BatchEntry;
      if (record?.outcome?.ok) learnFrom(source, seen, entry, record.outcome.prediction);
      yield text(lineOfRecord(index, entry, record));
    }
  }
}

/** How a wait for one job ended: its prediction, its failure, or no end yet (undefined). */
type Ended = { id: string; prediction?: Prediction; error?: ConveyorError };

/** A wait's error that says the job has not ended (or is gone), not that it failed. */
const notEnded = (error: ConveyorError) =>
  ['ERR_JOB_TIMEOUT', 'ERR_JOB_NOT_FOUND', 'ERR_CLOSED', 'ERR_QUEUE_UNAVAILABLE'].includes(
    error.code,
  );

/**
 * Results in the order the jobs end, each job waited for once through the SDK's shared event
 * listener (which subscribes before it reads, so none is missed); a packed job's end writes the
 * lines of all its items. A packed job that failed for its data is unpacked and its items' own
 * jobs waited for. After `waitMs` (or when `signal` aborts) the rest are written with the state
 * they are in.
 */
export function resultsInCompletionOrder(
  client: JobReader,
  source: BatchSource,
  waitMs: number,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const until = Date.now() + waitMs;
  const { entries } = source;
  const ended: Ended[] = [];
  const seen = new Set<string>();
  let wake = new AbortController();
  const settle = (result: Ended) => {
    ended.push(result);
    wake.abort();
  };
  /** Job id → the entries still waiting for it. */
  const open = new Map<string, number[]>();
  const watch = (id: string, indices: number[]) => {
    open.set(id, indices);
    client
      .job(id)
      .result({ timeoutMs: Math.max(1, until - Date.now()) })
      .then(
        (prediction) => settle({ id, prediction }),
        (error: unknown) => settle({ id, error: toConveyorError(error) }),
      );
  };
  for (const [id, indices] of source.groups) watch(id, [...indices]);

  /** The lines of a job that ended, or none when its items were unpacked and are watched anew. */
  async function* endedLines({ id, prediction, error }: Ended): AsyncGenerator<string> {
    const indices = open.get(id);
    if (indices === undefined) return;
    if (prediction) {
      open.delete(id);
      learnFrom(source, seen, entries[indices[0] ?? 0] as BatchEntry, prediction);
      for (const i of indices) yield text(completedLine(i, entries[i] as BatchEntry, prediction));
    } else if (error && isConveyorError(error) && !notEnded(error)) {
      open.delete(id);
      const first = indices[0] ?? 0;
      if (await unpackFailed(source, first, error.code)) {
        for (const i of indices) watch((entries[i] as BatchEntry).jobId, [i]);
      } else {
        for (const i of indices) yield text(failedLine(i, id, error));
      }
    }
  }

  async function* lines(): AsyncGenerator<string> {
    while (open.size > 0) {
      for (const result of ended.splice(0)) yield* endedLines(result);
      const left = until - Date.now();
      if (open.size === 0 || left <= 0 || signal.aborted) break;
      if (ended.length === 0) await pause(left, AbortSignal.any([signal, wake.signal]));
      wake = new AbortController();
    }
    const records = new Map<string, JobRecord | undefined>();
    for (const indices of [...open.values()]) {
      for (const i of indices) {
        const record = await settled(client, source, records, i, 0, signal);
        yield text(lineOfRecord(i, entries[i] as BatchEntry, record));
      }
    }
  }
  return lines();
}
