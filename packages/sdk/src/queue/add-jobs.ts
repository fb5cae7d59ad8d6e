import type { JobsOptions, Queue } from 'bullmq';
import {
  JOB_PAYLOAD_VERSION,
  blobKey,
  encodeTensor,
  isVariableDtype,
  queueOfJobId,
  tensorBytes,
  type JobPayload,
  type Tensor,
  type TypedArray,
} from '@conveyor/shared';
import type { PreparedJob } from '../request.js';
import { setBlob } from './blob-write.js';
import type { QueueContext } from './context.js';

/** Input bytes sent in one round trip of a bulk enqueue: about 20 ms of a 1 Gbit/s link. */
const BULK_CHUNK_BYTES = 2 * 1024 * 1024;

/** A job ready for BullMQ: its payload, job options, and the raw bytes of its stored inputs. */
export interface BullJob {
  jobId: string;
  payload: JobPayload;
  opts: JobsOptions;
  blobs: [key: string, bytes: Buffer][];
  /** Bytes of its inputs, to size the round trips of a bulk enqueue. */
  bytes: number;
}

/**
 * The BullMQ form of a prepared job; large inputs go beside it as raw bytes (BlobTensorSchema).
 * `traceMetadata` (see AcceptSpan) goes where BullMQ keeps a job's trace context.
 */
export function toBullJob(
  { config }: QueueContext,
  prepared: PreparedJob,
  traceMetadata?: string,
): BullJob {
  const { options } = prepared;
  const blobs: [string, Buffer][] = [];
  const inputs: JobPayload['inputs'] = {};
  let total = 0;
  for (const name in prepared.tensors) {
    const tensor = prepared.tensors[name] as Tensor;
    // A typed array's bytes are a view; strings and bytes are encoded here (length-prefixed).
    const bytes = isVariableDtype(tensor.dtype) ? tensorBytes(tensor) : undefined;
    const size = bytes?.byteLength ?? (tensor.data as TypedArray).byteLength;
    total += size;
    if (size >= config.blobThresholdBytes && size > 0) {
      blobs.push([blobKey(config.prefix, prepared.jobId, name), bytes ?? tensorBytes(tensor)]);
      inputs[name] = { dtype: tensor.dtype, shape: [...tensor.shape], blob: true };
    } else {
      inputs[name] = encodeTensor(tensor);
    }
  }
  // The version chosen at enqueue is recorded in the job (and its id and queue).
  const payload: JobPayload = {
    v: JOB_PAYLOAD_VERSION,
    model: prepared.model,
    version: prepared.signature.version,
    inputs,
  };
  if (prepared.outputs !== undefined) payload.outputs = prepared.outputs;
  if (prepared.deadline !== undefined) payload.deadline = prepared.deadline;
  if (options.owner !== undefined) payload.owner = options.owner;
  if (options.log === false) payload.unlogged = true;
  const opts: JobsOptions = {
    jobId: prepared.jobId,
    attempts: config.attempts,
    backoff: { type: 'exponential', delay: config.backoffMs },
    removeOnComplete: { count: config.keepCompleted.count, age: config.keepCompleted.ageSeconds },
    removeOnFail: { count: config.keepFailed.count, age: config.keepFailed.ageSeconds },
  };
  if (options.priority !== undefined) opts.priority = options.priority;
  if (traceMetadata !== undefined) opts.telemetry = { metadata: traceMetadata };
  return { jobId: prepared.jobId, payload, blobs, bytes: total, opts };
}

/**
 * Adds jobs of one queue in one round trip: their stored inputs are written first and not awaited
 * (NX: an idempotent re-enqueue never rewrites the bytes of a job already queued), then the jobs,
 * on the same connection, so Redis has every input before a worker can take its job. A job whose
 * bytes could not be stored is removed again before the error is thrown. Most jobs have no stored
 * inputs: then it is BullMQ's own promise, with no frame of its own.
 */
function addPipelined(ctx: QueueContext, queueName: string, jobs: readonly BullJob[]) {
  const queue = ctx.queues.named(queueName);
  const { blobTtlSeconds } = ctx.config;
  const writes = jobs.flatMap(({ blobs }) =>
    blobs.map(([key, bytes]) => setBlob(ctx.redis, key, bytes, blobTtlSeconds)),
  );
  const [only] = jobs;
  const added: Promise<unknown> =
    jobs.length === 1 && only
      ? queue.add('predict', only.payload, only.opts)
      : queue.addBulk(jobs.map((job) => ({ name: 'predict', data: job.payload, opts: job.opts })));
  return writes.length === 0 ? added : withStoredInputs(queue, jobs, added, writes);
}

/** addPipelined's end for jobs with stored inputs: each write is awaited, or the jobs removed. */
async function withStoredInputs(
  queue: Queue,
  jobs: readonly BullJob[],
  added: Promise<unknown>,
  writes: readonly Promise<unknown>[],
): Promise<void> {
  const stored = Promise.all(writes);
  stored.catch(() => undefined);
  await added;
  try {
    await stored;
  } catch (error) {
    await Promise.allSettled(jobs.map((job) => queue.remove(job.jobId)));
    throw error;
  }
}

/** Consecutive runs of jobs of about BULK_CHUNK_BYTES of inputs (at least one job each). */
function chunksOf(jobs: readonly BullJob[]): BullJob[][] {
  const chunks: BullJob[][] = [];
  let current: BullJob[] = [];
  let bytes = 0;
  for (const job of jobs) {
    if (current.length > 0 && bytes + job.bytes > BULK_CHUNK_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(job);
    bytes += job.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Adds jobs, grouped by queue (an alias's weights apply per job), in round trips of about
 * BULK_CHUNK_BYTES each, so no reply waits behind megabytes of others past the command timeout.
 * `traceId` (the jobs' trace, when traced) goes in the debug record.
 */
export async function addJobs(
  ctx: QueueContext,
  jobs: readonly BullJob[],
  traceId?: string,
): Promise<void> {
  const [only] = jobs;
  try {
    // One job (most calls) needs no grouping, and is one round trip whatever its size.
    if (jobs.length === 1 && only) await addPipelined(ctx, queueOfJobId(only.jobId), jobs);
    else
      for (const [name, queued] of byQueueOf(jobs))
        for (const chunk of chunksOf(queued)) await addPipelined(ctx, name, chunk);
  } catch (error) {
    throw ctx.unavailable(error);
  }
  if (!ctx.log.isLevelEnabled('debug')) return;
  if (jobs.length === 1 && only) ctx.log.debug({ jobId: only.jobId, traceId }, 'job enqueued');
  else ctx.log.debug({ count: jobs.length, traceId }, 'jobs enqueued');
}

/** Jobs by queue, in their order; a job id is parsed once per model version. */
function byQueueOf(jobs: readonly BullJob[]): Map<string, BullJob[]> {
  const byQueue = new Map<string, BullJob[]>();
  // `<model>.<version>.<rest>`, the rest has no dot.
  const named = new Map<string, string>();
  for (const job of jobs) {
    const version = job.jobId.slice(0, job.jobId.lastIndexOf('.'));
    let name = named.get(version);
    if (name === undefined) {
      name = queueOfJobId(job.jobId);
      named.set(version, name);
    }
    const queued = byQueue.get(name);
    if (queued) queued.push(job);
    else byQueue.set(name, [job]);
  }
  return byQueue;
}
