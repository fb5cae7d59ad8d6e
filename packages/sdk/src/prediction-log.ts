import type { Redis } from 'ioredis';
import { z } from 'zod';
import {
  JobIdSchema,
  ModelNameSchema,
  ModelVersionSchema,
  decodeLogEntry,
  parseOrThrow,
  predictionLogBytesKey,
  predictionLogIndexKey,
  predictionLogKey,
  routeOfJobId,
  type LoggedPrediction,
} from '@conveyor/shared';

const Time = z.union([z.number().int().nonnegative(), z.date().transform((d) => d.getTime())]);

/** Which entries of a model's prediction log to read. */
export const PredictionLogQuerySchema = z
  .object({
    /** Entries logged at or after this time (ms since the epoch, or a Date). Default: the oldest. */
    since: Time.optional(),
    /** Entries logged at or before this time. Default: the newest. */
    until: Time.optional(),
    /** Only predictions made by this version. Default: every version. */
    version: ModelVersionSchema.optional(),
    /** Entries after this entry id (a previous page's `next`), exclusive; overrides `since`. */
    after: z
      .string()
      .regex(/^\d{1,20}-\d{1,20}$/, { message: 'an entry id, <ms>-<seq>' })
      .optional(),
    /** Entries read from Redis per round trip. Default 256. */
    pageSize: z.number().int().min(1).max(10_000).default(256),
    /** Most entries the iterator yields. Default: all. */
    limit: z.number().int().min(1).optional(),
  })
  .strict();

export type PredictionLogQuery = z.input<typeof PredictionLogQuerySchema>;

/** One page of a prediction log; `next` reads on after it, undefined at the end of the log. */
export interface PredictionLogPage {
  entries: LoggedPrediction[];
  next?: string;
}

type RawEntry = [id: Buffer, pairs: Buffer[]];

/** What the reader needs of a Redis connection (a single node or a cluster). */
export type PredictionLogRedis = Pick<Redis, 'xrangeBuffer' | 'hget' | 'xlen' | 'get'>;

/**
 * Reads one page of a model's prediction log, oldest first, decoding its tensors. A `version`
 * filter may return fewer entries than `pageSize` with `next` still set. Rejects with
 * ERR_VALIDATION for a bad query; Redis errors are passed through.
 */
export async function readPredictionLogPage(
  redis: PredictionLogRedis,
  prefix: string,
  model: string,
  query: PredictionLogQuery = {},
): Promise<PredictionLogPage> {
  const name = parseOrThrow(ModelNameSchema, model, 'model name');
  const q = parseOrThrow(PredictionLogQuerySchema, query, 'prediction log query');
  const start = q.after ? `(${q.after}` : q.since !== undefined ? `${q.since}-0` : '-';
  const end = q.until !== undefined ? `${q.until}` : '+';
  const raw = (await redis.xrangeBuffer(
    predictionLogKey(prefix, name),
    start,
    end,
    'COUNT',
    q.pageSize,
  )) as unknown as RawEntry[];
  const entries: LoggedPrediction[] = [];
  for (const [id, pairs] of raw) {
    const entry = decodeLogEntry(name, id.toString(), pairs);
    if (q.version === undefined || entry.version === q.version) entries.push(entry);
  }
  const last = raw[raw.length - 1];
  return raw.length < q.pageSize || !last ? { entries } : { entries, next: last[0].toString() };
}

/**
 * Reads a model's prediction log page by page, oldest first: each logged prediction with its
 * inputs and outputs decoded. Entries trimmed while the iterator runs are skipped.
 *
 * @example
 * ```ts
 * for await (const p of readPredictionLog(redis, 'conveyor', 'iris', { since: Date.now() - 3600_000 }))
 *   rows.push([p.jobId, p.version, p.outputs.probabilities?.data]);
 * ```
 */
export async function* readPredictionLog(
  redis: PredictionLogRedis,
  prefix: string,
  model: string,
  query: PredictionLogQuery = {},
): AsyncIterableIterator<LoggedPrediction> {
  const limit = parseOrThrow(PredictionLogQuerySchema, query, 'prediction log query').limit;
  let yielded = 0;
  let page: PredictionLogPage | undefined;
  let cursor = query.after;
  do {
    page = await readPredictionLogPage(redis, prefix, model, {
      ...query,
      ...(cursor !== undefined && { after: cursor }),
    });
    for (const entry of page.entries) {
      if (limit !== undefined && yielded >= limit) return;
      yielded += 1;
      yield entry;
    }
    cursor = page.next;
  } while (cursor !== undefined);
}

/** The logged prediction of a job, or undefined when it was not logged or was trimmed since. */
export async function findLoggedPrediction(
  redis: PredictionLogRedis,
  prefix: string,
  jobId: string,
): Promise<LoggedPrediction | undefined> {
  const { model } = routeOfJobId(parseOrThrow(JobIdSchema, jobId, 'prediction id'));
  const entryId = await redis.hget(predictionLogIndexKey(prefix, model), jobId);
  if (!entryId) return undefined;
  const raw = (await redis.xrangeBuffer(
    predictionLogKey(prefix, model),
    entryId,
    entryId,
  )) as unknown as RawEntry[];
  const found = raw[0];
  return found ? decodeLogEntry(model, entryId, found[1]) : undefined;
}

/** How much a model's prediction log holds now: entries and bytes (as its budget counts them). */
export async function predictionLogSize(
  redis: PredictionLogRedis,
  prefix: string,
  model: string,
): Promise<{ entries: number; bytes: number }> {
  const name = parseOrThrow(ModelNameSchema, model, 'model name');
  const [entries, bytes] = await Promise.all([
    redis.xlen(predictionLogKey(prefix, name)),
    redis.get(predictionLogBytesKey(prefix, name)),
  ]);
  return { entries, bytes: Number(bytes ?? 0) };
}
