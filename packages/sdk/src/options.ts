import { z } from 'zod';
import { DEFAULT_MAX_TENSOR_BYTES, type Logger } from '@conveyor/shared';

const RetentionSchema = z
  .object({
    /** Keep at most this many jobs. */
    count: z.number().int().min(0),
    /** Drop jobs older than this, in seconds. */
    ageSeconds: z.number().int().min(0),
  })
  .strict();

/** Options of `createClient`; every field is optional. */
export const ClientOptionsSchema = z
  .object({
    /** Redis to connect to. Default `redis://127.0.0.1:6379`; `rediss://` for TLS, password in the URL. */
    redisUrl: z.string().url().default('redis://127.0.0.1:6379'),
    /** Prefix of every Redis key; must match the workers'. Default `conveyor`. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/)
      .default('conveyor'),
    /** How long `predict` and `result()` wait, in ms. Default 30 000. */
    timeoutMs: z.number().int().positive().default(30_000),
    /** Tries per job for retryable failures. Default 3. */
    attempts: z.number().int().min(1).max(100).default(3),
    /** First retry delay in ms, doubled each try. Default 1000. */
    backoffMs: z.number().int().min(0).default(1000),
    /** Completed jobs kept for reading results later. Default 10 000 jobs, 1 hour. */
    keepCompleted: RetentionSchema.default({ count: 10_000, ageSeconds: 3600 }),
    /** Failed jobs kept. Default 10 000 jobs, 1 day. */
    keepFailed: RetentionSchema.default({ count: 10_000, ageSeconds: 86_400 }),
    /** Approximate cap of each queue's event stream. Default 10 000. */
    eventsMaxLen: z.number().int().min(100).default(10_000),
    /** Largest tensor accepted, in bytes. Default 64 MiB. */
    maxTensorBytes: z.number().int().positive().default(DEFAULT_MAX_TENSOR_BYTES),
    /** How long the model catalogue read from Redis is reused, in ms. Default 5000. */
    catalogueTtlMs: z.number().int().min(0).default(5000),
    /** A pino-compatible logger; default silent. */
    logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && 'child' in v).optional(),
  })
  .strict();

export type ClientOptions = z.input<typeof ClientOptionsSchema>;
export type ResolvedClientOptions = z.output<typeof ClientOptionsSchema>;
