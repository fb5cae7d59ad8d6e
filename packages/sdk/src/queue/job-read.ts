import { Job, type JobsOptions, type Queue } from 'bullmq';
import {
  RESULT_FIELD,
  joinChunks,
  modelOfJobId,
  parseFailure,
  resultFields,
  storedBytesOf,
  type RedisClient,
} from '@conveyor/shared';
import type { JobState, Prediction } from '../client.js';
import type { QueueContext } from './context.js';
import { parseResult, toPrediction } from './results.js';

/** What the SDK reads of a job's BullMQ hash: never the whole hash, which holds stored outputs. */
export interface StoredJob {
  /** The payload, or the raw string when it is not JSON (the worker fails such a job). */
  data: unknown;
  opts: JobsOptions;
  progress: number | object;
  /** Epoch ms it was added, taken, and finished. */
  timestamp: number;
  processedOn: number | undefined;
  finishedOn: number | undefined;
  attemptsMade: number;
  failedReason: string;
  /** The worker's return value (parsed JSON), for a completed job. */
  returnvalue: unknown;
  /** The bytes of RESULT_FIELD: a completed job's large outputs. */
  outputs: Buffer | null;
}

const FIELDS = [
  'data',
  'opts',
  'progress',
  'timestamp',
  'processedOn',
  'finishedOn',
  'attemptsMade',
  'atm',
  'failedReason',
  'returnvalue',
] as const;

function parsed(text: string | null, fallback: unknown): unknown {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const int = (text: string | null | undefined): number | undefined =>
  text ? Number.parseInt(text, 10) : undefined;

/**
 * Reads a job by id in one round trip: the fields the SDK and the producer show, and its stored
 * outputs. Data that is not JSON (written into Redis around the SDK) comes back as the raw string,
 * so its state and failure can still be reported. The one reader of a job's hash.
 */
export async function readStoredJob(
  redis: RedisClient,
  queue: Queue,
  id: string,
  withOutputs = true,
): Promise<StoredJob | undefined> {
  const key = queue.toKey(id);
  const pipeline = redis.pipeline().hmget(key, ...FIELDS);
  // A status needs no outputs.
  if (withOutputs) pipeline.hgetBuffer(key, RESULT_FIELD);
  const replies = await pipeline.exec();
  const [[fieldsError, values], [outputsError, outputs] = [null, null]] = replies as [
    [Error | null, (string | null)[]],
    [Error | null, Buffer | null]?,
  ];
  const failed = fieldsError ?? outputsError;
  if (failed) throw failed;
  const raw = Object.fromEntries(FIELDS.map((field, i) => [field, values[i] ?? null])) as Record<
    (typeof FIELDS)[number],
    string | null
  >;
  if (raw.data === null && raw.opts === null && raw.timestamp === null) return undefined;
  const progress = parsed(raw.progress, 0);
  const returnvalue = parsed(raw.returnvalue, null);
  return {
    data: parsed(raw.data, {}),
    opts: Job.optsFromJSON(raw.opts ?? '{}'),
    progress: typeof progress === 'number' || typeof progress === 'object' ? (progress ?? 0) : 0,
    timestamp: int(raw.timestamp) ?? 0,
    processedOn: int(raw.processedOn),
    finishedOn: int(raw.finishedOn),
    attemptsMade: int(raw.attemptsMade ?? raw.atm) ?? 0,
    failedReason: raw.failedReason ?? '',
    returnvalue,
    outputs: withOutputs ? await restOfOutputs(redis, key, returnvalue, outputs) : null,
  };
}

/** Stored outputs longer than one field: the first field was read with the job, read the rest. */
async function restOfOutputs(
  redis: RedisClient,
  key: string,
  returnvalue: unknown,
  first: Buffer | null,
): Promise<Buffer | null> {
  const outputs = (returnvalue as { outputs?: unknown } | null)?.outputs;
  if (first === null || typeof outputs !== 'object' || outputs === null) return first;
  const fields = resultFields(storedBytesOf({ outputs: outputs as Record<string, object> }));
  if (fields.length <= 1) return first;
  const rest = await redis.hmgetBuffer(key, ...fields.slice(1));
  return joinChunks([first, ...rest]);
}

/** A job and its state, or undefined for an id Redis does not know. */
export interface ReadJob {
  stored: StoredJob;
  state: JobState;
}

/**
 * Reads a job's state, then the job: a job read after its state is at least as new, so a job read
 * as completed carries its return value and outputs.
 */
export async function readJob(
  ctx: QueueContext,
  id: string,
  withOutputs = true,
): Promise<ReadJob | undefined> {
  ctx.assertOpen();
  try {
    const queue = ctx.queues.ofJob(id);
    const state = await queue.getJobState(id);
    if (state === 'unknown') return undefined;
    const stored = await readStoredJob(ctx.redis, queue, id, withOutputs);
    return stored ? { stored, state } : undefined;
  } catch (error) {
    throw ctx.unavailable(error);
  }
}

/** The prediction of a completed job, or the error of a failed one (thrown). */
export function settledOutcome(id: string, { stored, state }: ReadJob): Prediction {
  if (state === 'completed')
    return toPrediction(id, parseResult(id, stored.returnvalue), stored.outputs);
  throw parseFailure(stored.failedReason, { jobId: id, model: modelOfJobId(id) });
}

/** The same without outputs, for a job read without them (`readJob(..., false)`). */
export function settledSummary(
  id: string,
  { stored, state }: ReadJob,
): Omit<Prediction, 'outputs'> {
  if (state === 'completed') {
    const { model, version, timings } = parseResult(id, stored.returnvalue);
    return { jobId: id, model, version, timings };
  }
  throw parseFailure(stored.failedReason, { jobId: id, model: modelOfJobId(id) });
}
