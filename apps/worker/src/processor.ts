import { UnrecoverableError, type Job } from 'bullmq';
import type { Engine } from '@conveyor/engine';
import {
  ConveyorError,
  JOB_PAYLOAD_VERSION,
  JobPayloadSchema,
  decodeTensor,
  encodeTensor,
  formatFailure,
  parseOrThrow,
  toConveyorError,
  type JobResult,
  type Logger,
  type Tensor,
} from '@conveyor/shared';

/**
 * The BullMQ processor of one model's queue: re-validates the payload read from Redis, checks it
 * against the model's signature, runs it on the engine and returns the encoded outputs. A bad job
 * fails alone, with its code as the prefix of BullMQ's failedReason; only retryable codes retry.
 */
export function createProcessor(engine: Engine, model: string, log: Logger) {
  return async (job: Job): Promise<JobResult> => {
    const takenAt = Date.now();
    try {
      const payload = parseOrThrow(
        JobPayloadSchema,
        job.data,
        `payload of job ${job.id}`,
        'ERR_PAYLOAD_INVALID',
      );
      if (payload.model !== model) {
        throw new ConveyorError(
          'ERR_PAYLOAD_INVALID',
          `job for model "${payload.model}" is on the queue of "${model}"`,
        );
      }
      if (payload.deadline !== undefined && takenAt > payload.deadline) {
        throw new ConveyorError(
          'ERR_DEADLINE_EXCEEDED',
          `deadline ${new Date(payload.deadline).toISOString()} passed ${takenAt - payload.deadline} ms before a worker took the job`,
        );
      }
      const inputs: Record<string, Tensor> = {};
      for (const [name, wire] of Object.entries(payload.inputs)) {
        inputs[name] = decodeTensor(wire, {
          maxBytes: engine.maxTensorBytes,
          where: `input "${name}"`,
        });
      }
      const started = performance.now();
      const outcome = await engine.predict({
        model,
        version: payload.version,
        inputs,
        outputs: payload.outputs,
        transferInputs: true,
      });
      return {
        v: JOB_PAYLOAD_VERSION,
        model,
        version: outcome.version,
        outputs: Object.fromEntries(
          Object.entries(outcome.outputs).map(([k, t]) => [k, encodeTensor(t)]),
        ),
        timings: {
          queuedMs: Math.max(0, takenAt - job.timestamp),
          inferenceMs: performance.now() - started,
          runMs: outcome.runMs,
          batchRows: outcome.batch.rows,
        },
      };
    } catch (thrown) {
      const error = toConveyorError(thrown);
      const fields = { jobId: job.id, model, code: error.code, attempt: job.attemptsMade + 1 };
      if (error.code === 'ERR_INTERNAL') log.error({ ...fields, err: error }, 'job failed');
      else log.warn({ ...fields, reason: error.message }, 'job failed');
      throw error.retryable
        ? new Error(formatFailure(error))
        : new UnrecoverableError(formatFailure(error));
    }
  };
}
