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
  perTurn,
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
  // One pipeline per cluster slot: ioredis sends a pipeline to one node only.
  const gather = perTurn<{ key: string; fields: string[] }, Buffer | null | Error>({
    keyOf: ({ key }) => key,
    async send(reads) {
      const pipeline = redis.pipeline();
      for (const { key, fields } of reads) pipeline.hmgetBuffer(key, ...fields);
      const replies = await pipeline.exec();
      return reads.map((_, i) => {
        const [error, chunks] = replies?.[i] ?? [new Error('no reply'), null];
        if (error) return error;
        return Array.isArray(chunks) ? joinChunks(chunks as (Buffer | null)[]) : null;
      });
    },
  });
  const read = async (key: string, bytes: number): Promise<Buffer | null> => {
    const answer = await gather({ key, fields: resultFields(bytes) });
    if (answer instanceof Error) throw answer;
    return answer;
  };
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
