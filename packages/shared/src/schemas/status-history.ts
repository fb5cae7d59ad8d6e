/**
 * The recent past of the status (`GET /v1/status/history`): the producer samples the status every
 * STATUS_SAMPLE_MS and keeps STATUS_HISTORY_MS of samples. Columns, one value per sample, so a
 * chart takes them as they are; null where a sample has no value (no worker, no job yet).
 */
import { z } from 'zod';
import { ModelNameSchema, ModelVersionSchema } from './names.js';

const count = z.number().int().nonnegative();
const rate = z.number().nonnegative();
const column = <T extends z.ZodType>(value: T) => z.array(value.nullable());

/** One model version's columns; each has as many values as the history has samples. */
export const VersionHistorySchema = z.object({
  model: ModelNameSchema,
  version: ModelVersionSchema,
  /** Jobs completed per second since the sample before, summed over live workers. */
  completedPerSecond: column(rate),
  /** Jobs failed (for good, not retried) per second since the sample before. */
  failedPerSecond: column(rate),
  /** Jobs waiting to be taken (waiting + prioritized); null when the queue was not read. */
  depth: column(count),
  /** Jobs being run. */
  active: column(count),
  /** Seconds of work waiting (see QueueStatus.backlogSeconds); null when unknown or infinite. */
  backlogSeconds: column(rate),
  /** End-to-end latency percentiles in seconds, the slowest live worker's; null with no job. */
  p50: column(rate),
  p95: column(rate),
  p99: column(rate),
});
export type VersionHistory = z.infer<typeof VersionHistorySchema>;

/** Failed attempts of one model version with one error code within the history's window. */
export const FailureCountSchema = z.object({
  model: ModelNameSchema,
  version: ModelVersionSchema,
  code: z.string(),
  count,
});
export type FailureCount = z.infer<typeof FailureCountSchema>;

export const StatusHistorySchema = z.object({
  /** Time between two samples, in ms (STATUS_SAMPLE_MS). */
  sampleMs: z.number().int().positive(),
  /** How far back the history reaches at most, in ms (STATUS_HISTORY_MS). */
  windowMs: z.number().int().positive(),
  /** Epoch ms of each sample, oldest first. */
  at: z.array(z.number()),
  versions: z.array(VersionHistorySchema),
  /** Failed attempts (retried ones too) in the window, by model, version and code, most first. */
  failures: z.array(FailureCountSchema),
});
export type StatusHistory = z.infer<typeof StatusHistorySchema>;
