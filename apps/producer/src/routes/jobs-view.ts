import type { Job } from 'bullmq';
import { getJobKeepingRawData } from '@conveyor/sdk';
import {
  ConveyorError,
  ERROR_CATALOGUE,
  JobResultSchema,
  decodeTensor,
  modelOfJobId,
  queueOfJobId,
  parseFailure,
  parseOrThrow,
  type Tensor,
} from '@conveyor/shared';
import { toOipOutputs } from '../oip-tensors.js';
import type { QueueRegistry } from '../plugins/queues.js';
import {
  JobStateSchema,
  type JobOutcome,
  type JobResultBody,
  type JobStateName,
  type JobStatusBody,
} from './jobs-schemas.js';

/** A job read from Redis with its state, or undefined when Redis does not know the id. */
export interface ReadJob {
  job: Job;
  state: JobStateName;
}

/**
 * Reads one job by id; its model is named by the id. The state is read before the job, so a
 * finished state always comes with the job's finished data (a job never leaves completed or
 * failed), never with data read while it still ran.
 */
export async function readJob(queues: QueueRegistry, id: string): Promise<ReadJob | undefined> {
  const queue = queues.predict(queueOfJobId(id));
  try {
    const state = JobStateSchema.safeParse(await queue.getJobState(id));
    if (!state.success) return undefined;
    const job = await getJobKeepingRawData(queue, id);
    return job ? { job, state: state.data } : undefined;
  } catch (error) {
    throw queues.unavailable(error);
  }
}

export function jobNotFound(id: string): ConveyorError {
  return new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} does not exist (or was trimmed)`, {
    details: { jobId: id },
  });
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

/**
 * Decodes a worker's return value (never trusting Redis) into the `/result` body, with the
 * outputs as protocol tensors.
 */
export function resultBody(jobId: string, returnvalue: unknown): JobResultBody {
  const result = parseOrThrow(
    JobResultSchema,
    returnvalue,
    `result of job ${jobId}`,
    'ERR_PAYLOAD_INVALID',
  );
  const outputs: Record<string, Tensor> = {};
  for (const [name, wire] of Object.entries(result.outputs))
    outputs[name] = decodeTensor(wire, { maxBytes: Infinity, where: `output "${name}"` });
  return {
    job_id: jobId,
    model_name: result.model,
    model_version: result.version,
    outputs: toOipOutputs(outputs),
    timings: { queued_ms: result.timings.queuedMs, inference_ms: result.timings.inferenceMs },
  };
}

/** The error a failed job carries, with its id in the details (the error body's `job_id`). */
export function failureOf(jobId: string, failedReason: string): ConveyorError {
  return parseFailure(failedReason, { jobId, model: modelOfJobId(jobId) });
}

/** How a finished job ended; `returnvalue` for a completed one, `failedReason` for a failed one. */
export function outcomeOf(
  jobId: string,
  ended: { status: 'completed'; returnvalue: unknown } | { status: 'failed'; failedReason: string },
): JobOutcome {
  const model = modelOfJobId(jobId);
  if (ended.status === 'completed')
    return {
      job_id: jobId,
      model,
      status: 'completed',
      result: resultBody(jobId, ended.returnvalue),
    };
  const error = failureOf(jobId, ended.failedReason);
  return {
    job_id: jobId,
    model,
    status: 'failed',
    error: { code: error.code, message: error.message, status: ERROR_CATALOGUE[error.code].status },
  };
}

/** The outcome of a job read in a finished state; undefined while it runs. */
export function outcomeOfJob({ job, state }: ReadJob): JobOutcome | undefined {
  const id = String(job.id);
  if (state === 'completed') return outcomeOf(id, { status: state, returnvalue: job.returnvalue });
  if (state === 'failed') return outcomeOf(id, { status: state, failedReason: job.failedReason });
  return undefined;
}

/** The `GET /v1/jobs/{id}` body: state, progress, attempts and timings. */
export function statusBody({ job, state }: ReadJob): JobStatusBody {
  const id = String(job.id);
  const body: JobStatusBody = {
    job_id: id,
    model: modelOfJobId(id),
    state,
    progress: (job.progress ?? 0) as JobStatusBody['progress'],
    attempts_made: job.attemptsMade,
    attempts_max: job.opts.attempts ?? 1,
    queued_at: new Date(job.timestamp).toISOString(),
  };
  const startedAt = iso(job.processedOn);
  if (startedAt !== undefined) body.started_at = startedAt;
  const finishedAt = iso(job.finishedOn);
  if (finishedAt !== undefined) body.finished_at = finishedAt;
  if (job.processedOn) body.queued_ms = Math.max(0, job.processedOn - job.timestamp);
  if (state === 'completed') {
    const parsed = JobResultSchema.safeParse(job.returnvalue);
    if (parsed.success) {
      body.queued_ms = parsed.data.timings.queuedMs;
      body.inference_ms = parsed.data.timings.inferenceMs;
      body.model_version = parsed.data.version;
    }
  }
  if (state === 'failed') {
    const error = failureOf(id, job.failedReason);
    body.error = { code: error.code, message: error.message };
  }
  return body;
}
