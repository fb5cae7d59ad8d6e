import {
  ConveyorError,
  blobKey,
  exposedDetails,
  modelOfJobId,
  parseFailure,
  queueOfJobId,
  toConveyorError,
  type JobPayload,
} from '@conveyor/shared';
import type {
  JobEvent,
  JobRecord,
  JobRequest,
  JobState,
  JobStatus,
  JobSummary,
  Prediction,
  QueueJobHandle,
} from '../client.js';
import { jobEvents } from '../event-channel.js';
import type { QueueContext } from './context.js';
import { toJobEvent } from './events.js';
import { readJob, settledOutcome, settledSummary, type ReadJob } from './job-read.js';
import { readJobRequest } from './job-request.js';
import { waitFor } from './job-wait.js';

const CANCELLABLE: ReadonlySet<JobState> = new Set(['waiting', 'prioritized', 'delayed']);

const payloadField = (data: unknown, field: keyof JobPayload): unknown =>
  typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[field] : undefined;

/** A job's status, without decoding its outputs. */
export function statusOf(id: string, { stored, state }: ReadJob): JobStatus {
  const status: JobStatus = {
    id,
    model: modelOfJobId(id),
    state,
    attemptsMade: stored.attemptsMade,
    enqueuedAt: stored.timestamp,
  };
  if (stored.processedOn) status.startedAt = stored.processedOn;
  if (stored.finishedOn) status.finishedAt = stored.finishedOn;
  if (state === 'failed') {
    const error = parseFailure(stored.failedReason);
    const details = exposedDetails(error);
    status.error = { code: error.code, message: error.message };
    if (Object.keys(details).length > 0) status.error.details = details;
    if (error.issues.length > 0) status.error.issues = [...error.issues];
  }
  return status;
}

/** What every read of a job's record holds before its outcome. */
function recordBase(id: string, found: ReadJob): Omit<JobRecord, 'outcome'> {
  const { stored } = found;
  const record: Omit<JobRecord, 'outcome'> = {
    ...statusOf(id, found),
    attemptsMax: stored.opts.attempts ?? 1,
    progress: stored.progress,
  };
  const owner = payloadField(stored.data, 'owner');
  const version = payloadField(stored.data, 'version');
  if (typeof owner === 'string') record.owner = owner;
  if (typeof version === 'string') record.version = version;
  return record;
}

/** The outcome of a finished job, as `settle` reads its prediction; undefined while it runs. */
function outcomeOf<P>(
  found: ReadJob,
  settle: () => P,
): { ok: true; prediction: P } | { ok: false; error: ConveyorError } | undefined {
  if (found.state !== 'completed' && found.state !== 'failed') return undefined;
  try {
    return { ok: true, prediction: settle() };
  } catch (error) {
    return { ok: false, error: toConveyorError(error) };
  }
}

/** A job's record as `read()` returns it: its status, owner, progress and outcome. */
export function recordOf(id: string, found: ReadJob): JobRecord {
  const outcome = outcomeOf(found, () => settledOutcome(id, found));
  return { ...recordBase(id, found), ...(outcome && { outcome }) };
}

/** The same read without outputs (`read({ outputs: false })`). */
function summaryOf(id: string, found: ReadJob): JobSummary {
  const outcome = outcomeOf(found, () => settledSummary(id, found));
  return { ...recordBase(id, found), ...(outcome && { outcome }) };
}

const notFound = (id: string, model: string) =>
  new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} does not exist (or was trimmed)`, {
    details: { jobId: id, model },
  });

/** Removes a job no worker has taken yet, with its stored inputs. */
async function cancel(ctx: QueueContext, id: string): Promise<void> {
  const model = modelOfJobId(id);
  const found = await readJob(ctx, id);
  if (!found) throw notFound(id, model);
  if (!CANCELLABLE.has(found.state)) {
    throw new ConveyorError(
      'ERR_JOB_NOT_CANCELLABLE',
      `job ${id} is ${found.state}; only a job that has not started can be cancelled`,
      { details: { jobId: id, model, state: found.state } },
    );
  }
  const queue = ctx.queues.ofJob(id);
  // BullMQ's removal refuses a job a worker has locked in the meantime (0 removed).
  const removed = await queue.remove(id).catch((error: unknown) => ctx.rejectUnavailable(error));
  if (removed !== 1) {
    const now = await queue.getJobState(id).catch(() => 'unknown');
    throw new ConveyorError(
      'ERR_JOB_NOT_CANCELLABLE',
      `job ${id} is ${now}; it started before it could be cancelled`,
      { details: { jobId: id, model, state: now } },
    );
  }
  const inputs = payloadField(found.stored.data, 'inputs');
  const names = typeof inputs === 'object' && inputs !== null ? Object.keys(inputs) : [];
  if (names.length > 0)
    await ctx.redis
      .del(...names.map((input) => blobKey(ctx.config.prefix, id, input)))
      .catch(() => undefined);
  ctx.log.debug({ jobId: id, model }, 'job cancelled');
}

/**
 * The handle of a queued job: one small object whose methods live on the class, since a client
 * holds a handle for each job in flight (thousands at once) until its result comes.
 */
class QueueJob<O extends object> implements QueueJobHandle<O> {
  readonly model: string;
  readonly #ctx: QueueContext;

  constructor(
    ctx: QueueContext,
    readonly id: string,
  ) {
    this.#ctx = ctx;
    this.model = modelOfJobId(id);
  }

  async status(): Promise<JobStatus> {
    const { id, model } = this;
    const found = await readJob(this.#ctx, id, false);
    return found ? statusOf(id, found) : { id, model, state: 'unknown', attemptsMade: 0 };
  }

  read(): Promise<JobRecord | undefined>;
  read(options: { outputs: false }): Promise<JobSummary | undefined>;
  async read(options?: { outputs: false }): Promise<JobRecord | JobSummary | undefined> {
    const withOutputs = options?.outputs !== false;
    const found = await readJob(this.#ctx, this.id, withOutputs);
    if (!found) return undefined;
    return withOutputs ? recordOf(this.id, found) : summaryOf(this.id, found);
  }

  request(): Promise<JobRequest | undefined> {
    return readJobRequest(this.#ctx, this.id);
  }

  cancel(): Promise<void> {
    return cancel(this.#ctx, this.id);
  }

  result(waitOptions: { timeoutMs?: number } = {}): Promise<Prediction<O>> {
    // The job's outputs are whatever the caller typed them as; the worker checked the names.
    const timeoutMs = waitOptions.timeoutMs ?? this.#ctx.config.timeoutMs;
    // The wait's own promise, not an async function's: a client waits on thousands of jobs at
    // once, and each async call keeps a generator, a promise and this handle alive until it ends.
    return waitFor(this.#ctx, this.id, timeoutMs) as Promise<Prediction<O>>;
  }

  events(): AsyncIterableIterator<JobEvent> {
    const ctx = this.#ctx;
    const { id } = this;
    return jobEvents(async (emit) => {
      ctx.assertOpen();
      await ctx.hub.watch(queueOfJobId(id)).catch(ctx.rejectUnavailable);
      const stop = ctx.hub.subscribe(id, (entry) => {
        const event = toJobEvent(entry);
        if (event) emit(event);
      });
      try {
        const found = await readJob(ctx, id);
        return { state: found?.state ?? 'unknown', stop };
      } catch (error) {
        stop();
        throw error;
      }
    });
  }
}

/** The handle of a queued job. */
export function createHandle<O extends object>(ctx: QueueContext, id: string): QueueJobHandle<O> {
  return new QueueJob<O>(ctx, id);
}
