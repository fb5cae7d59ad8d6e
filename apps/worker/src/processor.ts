import type { Tracer } from '@opentelemetry/api';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Engine } from '@conveyor/engine';
import {
  ConveyorError,
  JOB_PAYLOAD_VERSION,
  MAX_PLAIN_TENSORS,
  decodeTensor,
  encodeOutputs,
  formatFailure,
  tensorFromBytes,
  toConveyorError,
  type JobPayload,
  type JobResult,
  type Logger,
  type Tensor,
} from '@conveyor/shared';
import type { BlobStore } from './blob-store.js';
import { readJobPayload } from './job-payload.js';
import { startJobTrace, type JobTrace } from './job-trace.js';
import { NO_JOB_METRICS, type JobMetrics } from './metrics.js';
import { NO_OBSERVER, type PredictionObserver } from './prediction-observer.js';
import type { ResultStore } from './result-store.js';

/**
 * Seconds a failed job's stored inputs are kept after its last attempt: long enough for a reader
 * to run a failed row-packed job's items again apart (`client.job(id).request()`), short enough
 * that a model failing every image does not fill Redis with them.
 */
export const FAILED_INPUTS_KEEP_S = 600;

async function dropBlobs(blobs: BlobStore, keys: readonly string[], log: Logger): Promise<void> {
  // A leftover blob expires by itself; failing to delete it must not fail the job.
  await blobs
    .del(keys)
    .catch((err: unknown) => log.warn({ err, keys }, 'could not delete stored inputs'));
}

/**
 * The names of a job's inputs stored beside it (see BlobTensorSchema), read from its data as it
 * is, valid or not: the processor names their keys with these before it checks the payload, so
 * that they go with the job however it ends, and the 'completed' listener names them again.
 */
function storedInputNames(data: unknown): string[] {
  const inputs = (data as { inputs?: unknown } | undefined)?.inputs;
  if (typeof inputs !== 'object' || inputs === null) return [];
  const names: string[] = [];
  for (const name in inputs) {
    const wire = (inputs as Record<string, unknown>)[name];
    if (typeof wire === 'object' && wire !== null && 'blob' in wire) names.push(name);
    // More is no valid payload (the check fails it), and no reason for a command of more keys.
    if (names.length === MAX_PLAIN_TENSORS) break;
  }
  return names;
}

/**
 * Deletes a completed job of `model`'s stored inputs; call it from the Worker's 'completed' event.
 * A job without any (most) costs no promise.
 */
export function dropStoredInputs(
  blobs: BlobStore,
  model: string,
  job: Job,
  log: Logger,
): Promise<void> | undefined {
  const names = storedInputNames(job.data);
  if (names.length === 0) return undefined;
  const jobId = String(job.id);
  return dropBlobs(
    blobs,
    names.map((name) => blobs.key(model, jobId, name)),
    log,
  );
}

const NO_BYTES: readonly (Buffer | null)[] = [];

/**
 * Reads a job's input tensors: inline ones from base64, stored ones from `bytes`, the blobs of
 * `stored` in that order. The processor reads those only when there are any, so a job of inline
 * inputs is read without a promise.
 */
function readInputs(
  payload: JobPayload,
  jobId: string,
  stored: readonly string[],
  bytes: readonly (Buffer | null)[],
  maxBytes: number,
): Record<string, Tensor> {
  const inputs: Record<string, Tensor> = {};
  for (const name in payload.inputs) {
    const wire = payload.inputs[name]!;
    const where = `input "${name}"`;
    if ('data' in wire) {
      inputs[name] = decodeTensor(wire, { maxBytes, where, pooled: true });
      continue;
    }
    const data = bytes[stored.indexOf(name)];
    if (!data) {
      throw new ConveyorError(
        'ERR_PAYLOAD_INVALID',
        `${where} of job ${jobId} is stored beside the job, but its bytes are gone`,
      );
    }
    // The bytes are this job's alone: read in place when they fill a buffer of their own.
    inputs[name] = tensorFromBytes(wire.dtype, wire.shape, data, { maxBytes, where, adopt: true });
  }
  return inputs;
}

/**
 * True when every input's data fills an ArrayBuffer of its own, which the engine may then move to
 * an inference thread; small inline inputs are decoded into Buffer's shared pool, which must stay.
 */
function transferable(inputs: Readonly<Record<string, Tensor>>): boolean {
  for (const name in inputs) {
    const { data } = inputs[name]!;
    if (!ArrayBuffer.isView(data)) continue;
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) return false;
  }
  return true;
}

/**
 * Milliseconds rounded to the microsecond: a result's timings are stored twice (the job's hash and
 * its `completed` event) and read by every client, and performance.now() differences print 16
 * digits where 3 decimals say all a timer this coarse knows.
 */
function toMicroseconds(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * The BullMQ processor of one model version's queue: re-validates the payload read from Redis,
 * checks it against the version's signature, runs it on the engine and returns the encoded
 * outputs. A bad job fails alone, with its code as the prefix of BullMQ's failedReason; only
 * retryable codes retry. Each attempt is counted and timed on `metrics`, and traced with `tracer`
 * when given one (see job-trace.ts). A completed job logs one record at debug, a failed one at
 * warn with its code; both carry the job id, and the trace id when traced. Completed jobs an
 * `observer` wants are handed to it after their result is built (see prediction-observer.ts).
 */
export function createProcessor(
  engine: Engine,
  model: string,
  version: string,
  log: Logger,
  blobs: BlobStore,
  results: ResultStore,
  metrics: JobMetrics = NO_JOB_METRICS,
  tracer?: Tracer,
  observer: PredictionObserver = NO_OBSERVER,
) {
  /** Logs a failed job and turns its error into what BullMQ records; expires its last blobs. */
  const failed = async (
    job: Job,
    keys: readonly string[],
    thrown: unknown,
    traced: JobTrace | undefined,
  ): Promise<Error> => {
    const jobId = String(job.id);
    const error = toConveyorError(thrown);
    traced?.end(error);
    const fields = {
      jobId,
      traceId: traced?.traceId,
      model,
      version,
      code: error.code,
      attempt: job.attemptsMade + 1,
      reason: error.message,
    };
    // An internal error is a bug of ours: its stack goes with it.
    log.warn(error.code === 'ERR_INTERNAL' ? { ...fields, err: error } : fields, 'job failed');
    // Stored inputs stay for a retry, and expire soon after the job's last attempt.
    const last = !error.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    metrics.failed(error.code, !last);
    if (last && keys.length > 0)
      await blobs
        .expire(keys, FAILED_INPUTS_KEEP_S)
        .catch((err: unknown) => log.warn({ err, keys }, 'could not expire stored inputs'));
    return error.retryable
      ? new Error(formatFailure(error))
      : new UnrecoverableError(formatFailure(error));
  };

  return async (job: Job): Promise<JobResult> => {
    const takenAt = Date.now();
    const slotStart = performance.now();
    const queuedMs = Math.max(0, takenAt - job.timestamp);
    metrics.taken(queuedMs / 1000);
    const jobId = String(job.id);
    const traced = tracer && startJobTrace(tracer, job, model, version, takenAt);
    let storedKeys: string[] = [];
    try {
      // Named before the payload is checked, so that stored inputs go with the job however it ends.
      const stored = storedInputNames(job.data);
      storedKeys = stored.map((n) => blobs.key(model, jobId, n));
      const payload = readJobPayload(job.data, jobId);
      if (payload.model !== model || (payload.version ?? version) !== version) {
        throw new ConveyorError(
          'ERR_PAYLOAD_INVALID',
          `job for model "${payload.model}" version ${payload.version ?? '(none)'} is on the queue of "${model}" version ${version}`,
        );
      }
      const { deadline } = payload;
      if (deadline !== undefined && takenAt > deadline) {
        throw new ConveyorError(
          'ERR_DEADLINE_EXCEEDED',
          `deadline ${new Date(deadline).toISOString()} passed ${takenAt - deadline} ms before a worker took the job`,
        );
      }
      const bytes = storedKeys.length > 0 ? await blobs.get(storedKeys) : NO_BYTES;
      const inputs = readInputs(payload, jobId, stored, bytes, engine.maxTensorBytes);
      const wanted = observer.wants(model, version, payload);
      const started = performance.now();
      const outcome = await engine.predict({
        model,
        version,
        inputs,
        outputs: payload.outputs,
        transferInputs: wanted !== 'inputs' && transferable(inputs),
        deadline,
      });
      const ran = traced && performance.now();
      const encoded = encodeOutputs(outcome.outputs, results.inlineMaxBytes);
      if (encoded.bytes > results.maxBytes) {
        throw new ConveyorError(
          'ERR_RESULT_TOO_LARGE',
          `outputs of job ${jobId} are ${encoded.bytes} bytes, over RESULT_MAX_BYTES (${results.maxBytes})`,
          { details: { jobId, bytes: encoded.bytes, maxBytes: results.maxBytes } },
        );
      }
      if (encoded.stored && !(await results.store(jobId, encoded.stored, job.opts))) {
        throw new ConveyorError('ERR_JOB_NOT_FOUND', `job ${jobId} was removed while it ran`);
      }
      const done = performance.now();
      const inferenceMs = done - started;
      // On the next turn: BullMQ records this job's completion first, the observers' work after.
      if (wanted !== 'no')
        setImmediate(
          () =>
            void observer.completed({
              jobId,
              model,
              version: outcome.version,
              payload,
              ...(wanted === 'inputs' && { inputs }),
              outputs: outcome.outputs,
              queuedMs,
              inferenceMs,
              traceId: traced?.traceId,
              completedAt: Date.now(),
            }),
        );
      metrics.completed(
        inferenceMs / 1000,
        Math.max(0, Date.now() - job.timestamp) / 1000,
        (done - slotStart) / 1000,
      );
      if (traced && ran !== undefined) {
        const batched = { rows: outcome.batch.rows, requests: outcome.batch.requests };
        traceEngine(traced, started, ran, outcome.runMs, batched, encoded);
      }
      if (log.isLevelEnabled('debug'))
        log.debug(
          { jobId, traceId: traced?.traceId, queuedMs, inferenceMs, batchRows: outcome.batch.rows },
          'job completed',
        );
      // On success the stored inputs stay until BullMQ has recorded the completion (see
      // dropStoredInputs): a worker killed in between leaves the job to run again, with its bytes.
      return {
        v: JOB_PAYLOAD_VERSION,
        model,
        version: outcome.version,
        outputs: encoded.outputs,
        timings: {
          queuedMs,
          inferenceMs: toMicroseconds(inferenceMs),
          runMs: toMicroseconds(outcome.runMs),
          batchRows: outcome.batch.rows,
        },
      };
    } catch (thrown) {
      throw await failed(job, storedKeys, thrown, traced);
    }
  };
}

/**
 * Records a completed job's steps under its `job` span and ends it: `batch` (from handing the
 * inputs to the engine until onnxruntime started the batch they joined), `inference` (the
 * onnxruntime run, as long as it measured, ending when the engine answered) and `result`
 * (encoding and storing the outputs). Times are `performance.now()` values.
 */
function traceEngine(
  traced: JobTrace,
  started: number,
  ran: number,
  runMs: number,
  batch: { rows: number; requests: number },
  encoded: { bytes: number; stored?: unknown },
): void {
  const runStart = Math.max(started, ran - runMs);
  traced.step('batch', started, runStart, {
    'conveyor.batch.rows': batch.rows,
    'conveyor.batch.requests': batch.requests,
  });
  traced.step('inference', runStart, ran, { 'conveyor.batch.rows': batch.rows });
  traced.step('result', ran, performance.now(), {
    'conveyor.result.bytes': encoded.bytes,
    'conveyor.result.stored': encoded.stored !== undefined,
  });
  traced.end();
}
