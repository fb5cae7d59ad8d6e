import type { JobRecord, JobSummary, Prediction, QueueClient } from '@conveyor/sdk';
import { ConveyorError, ERROR_CATALOGUE, exposedDetails, modelOfJobId } from '@conveyor/shared';
import { toOipOutputs } from '../oip/tensors.js';
import {
  JobStateSchema,
  type JobError,
  type JobOutcome,
  type JobResultBody,
  type JobStatusBody,
} from './jobs-schemas.js';

/** What the job routes read jobs through: the SDK's job handles, the one road to Redis. */
export type JobReader = Pick<QueueClient, 'job'>;

/** Reads one job's record; undefined when Redis does not know the id. */
export function readJob(client: JobReader, id: string): Promise<JobRecord | undefined> {
  return client.job(id).read();
}

/**
 * Reads one job's record without a completed job's outputs, which are never read from Redis: what
 * status, ownership and failure checks need, however large the outputs.
 */
export function readJobSummary(client: JobReader, id: string): Promise<JobSummary | undefined> {
  return client.job(id).read({ outputs: false });
}

export function jobNotFound(id: string): ConveyorError {
  return new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} does not exist (or was trimmed)`, {
    details: { jobId: id },
  });
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

/** The `/result` body of a prediction, with the outputs as protocol tensors. */
export function resultBody(prediction: Prediction): JobResultBody {
  return {
    job_id: prediction.jobId,
    model_name: prediction.model,
    model_version: prediction.version,
    outputs: toOipOutputs(prediction.outputs),
    timings: {
      queued_ms: prediction.timings.queuedMs,
      inference_ms: prediction.timings.inferenceMs,
    },
  };
}

/** How a failed job (or one whose result cannot be read) ended. */
export function failedOutcome(jobId: string, error: ConveyorError): JobOutcome {
  const { code, message } = error;
  const details = exposedDetails(error) as JobError['details'];
  return {
    job_id: jobId,
    model: modelOfJobId(jobId),
    status: 'failed',
    error: {
      code,
      message,
      status: ERROR_CATALOGUE[code].status,
      ...(Object.keys(details ?? {}).length > 0 && { details }),
      ...(error.issues.length > 0 && { issues: [...error.issues] }),
    },
  };
}

/** The outcome of a finished job; undefined while it runs. */
export function outcomeOf(record: JobRecord): JobOutcome | undefined {
  const { outcome } = record;
  if (!outcome) return undefined;
  if (!outcome.ok) return failedOutcome(record.id, outcome.error);
  return {
    job_id: record.id,
    model: record.model,
    status: 'completed',
    result: resultBody(outcome.prediction),
  };
}

/** The `GET /v1/jobs/{id}` body: state, progress, attempts and timings. */
export function statusBody(record: JobSummary): JobStatusBody {
  const body: JobStatusBody = {
    job_id: record.id,
    model: record.model,
    state: JobStateSchema.catch('waiting').parse(record.state),
    progress: record.progress as JobStatusBody['progress'],
    attempts_made: record.attemptsMade,
    attempts_max: record.attemptsMax,
    queued_at: new Date(record.enqueuedAt ?? 0).toISOString(),
  };
  const startedAt = iso(record.startedAt);
  if (startedAt !== undefined) body.started_at = startedAt;
  const finishedAt = iso(record.finishedAt);
  if (finishedAt !== undefined) body.finished_at = finishedAt;
  if (record.startedAt && record.enqueuedAt)
    body.queued_ms = Math.max(0, record.startedAt - record.enqueuedAt);
  if (record.outcome?.ok) {
    const { timings, version } = record.outcome.prediction;
    body.queued_ms = timings.queuedMs;
    body.inference_ms = timings.inferenceMs;
    body.model_version = version;
  }
  if (record.error) body.error = record.error as JobStatusBody['error'];
  return body;
}
