import {
  ConveyorError,
  JobResultSchema,
  joinChunks,
  resultFields,
  storedBytesOf,
  decodeOutputs,
  hasStoredOutputs,
  parseOrThrow,
  type JobResult,
  type RedisClient,
  hashTagOf,
} from '@conveyor/shared';
import type { Prediction } from '../client.js';
import { isPlainJobResult } from './result-check.js';

/** A worker's return value, validated (never trusting Redis): ERR_PAYLOAD_INVALID otherwise. */
export function parseResult(jobId: string, value: unknown): JobResult {
  if (isPlainJobResult(value)) return value;
  return parseOrThrow(JobResultSchema, value, `result of job ${jobId}`, 'ERR_PAYLOAD_INVALID');
}

/** A validated result and its stored outputs' bytes as a Prediction. */
export function toPrediction(
  jobId: string,
  result: JobResult,
  stored: Uint8Array | null | undefined,
): Prediction {
  return {
    jobId,
    model: result.model,
    version: result.version,
    outputs: decodeOutputs(jobId, result.outputs, stored),
    timings: result.timings,
  };
}

/**
 * Reads the stored outputs of finished jobs, many per round trip: the reads asked for in one turn
 * of the event loop (a burst of completions) go in one pipeline.
 */
export interface OutputReader {
  /** The prediction of a job whose `completed` event carried `returnvalue`. */
  prediction(jobId: string, jobKey: string, returnvalue: unknown): Promise<Prediction>;
  /**
   * The same prediction at once when the return value holds every output (nothing to read);
   * undefined when some are stored in the job. Throws as `prediction` rejects.
   */
  inline(jobId: string, returnvalue: unknown): Prediction | undefined;
}

export function createOutputReader(redis: RedisClient): OutputReader {
  let pending: {
    key: string;
    fields: string[];
    settle: (bytes: Buffer | null, error?: Error) => void;
  }[] = [];
  // One pipeline per cluster slot: ioredis sends a pipeline to one node only.
  const flush = () => {
    const groups = new Map<string, typeof pending>();
    for (const read of pending) {
      const tag = hashTagOf(read.key);
      const group = groups.get(tag);
      if (group) group.push(read);
      else groups.set(tag, [read]);
    }
    pending = [];
    for (const batch of groups.values()) flushGroup(batch);
  };
  const flushGroup = (batch: typeof pending) => {
    const pipeline = redis.pipeline();
    for (const { key, fields } of batch) pipeline.hmgetBuffer(key, ...fields);
    pipeline.exec().then(
      (replies) =>
        batch.forEach(({ settle }, i) => {
          const [error, chunks] = replies?.[i] ?? [new Error('no reply'), null];
          settle(
            Array.isArray(chunks) ? joinChunks(chunks as (Buffer | null)[]) : null,
            error ?? undefined,
          );
        }),
      (error: unknown) =>
        batch.forEach(({ settle }) =>
          settle(null, error instanceof Error ? error : new Error(String(error))),
        ),
    );
  };
  const read = (key: string, bytes: number) =>
    new Promise<Buffer | null>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      const settle = (stored: Buffer | null, error?: Error) =>
        error ? reject(error) : resolve(stored);
      pending.push({ key, fields: resultFields(bytes), settle });
    });
  return {
    inline(jobId, returnvalue) {
      const result = parseResult(jobId, returnvalue);
      return hasStoredOutputs(result) ? undefined : toPrediction(jobId, result, undefined);
    },
    async prediction(jobId, jobKey, returnvalue) {
      const result = parseResult(jobId, returnvalue);
      const stored = hasStoredOutputs(result)
        ? await read(jobKey, storedBytesOf(result))
        : undefined;
      if (stored === null) {
        throw new ConveyorError(
          'ERR_JOB_NOT_FOUND',
          `job ${jobId} was trimmed before its stored outputs were read`,
          { details: { jobId } },
        );
      }
      return toPrediction(jobId, result, stored);
    },
  };
}
