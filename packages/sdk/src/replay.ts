import { z } from 'zod';
import {
  ModelNameSchema,
  ModelVersionSchema,
  SHADOW_PRIORITY,
  compareOutputs,
  dropUpdate,
  isConveyorError,
  mergeUpdate,
  parseOrThrow,
  statsUpdate,
  type ComparisonPair,
  type ComparisonReport,
  type LoggedPrediction,
  type StatsUpdate,
  type Tensor,
} from '@conveyor/shared';
import type { Prediction, QueueClient } from './client.js';
import {
  readComparisons,
  recordComparison,
  resetComparison,
  type ComparisonRedis,
} from './comparisons.js';
import { predictionLogSize, type PredictionLogRedis } from './prediction-log.js';

/** What to replay, and how. */
export const ReplayOptionsSchema = z
  .object({
    /** The candidate version the logged inputs are replayed against. */
    version: ModelVersionSchema,
    /** Only predictions logged by this version. Default: every version but the candidate. */
    serving: ModelVersionSchema.optional(),
    /** Logged at or after this time (ms since the epoch). Default: the whole log. */
    since: z.number().int().nonnegative().optional(),
    /** Most logged predictions replayed. Default: all in the window. */
    limit: z.number().int().min(1).optional(),
    /** Replayed jobs in flight at once. Default 16. */
    concurrency: z.number().int().min(1).max(1024).default(16),
    /** A replayed job's wait for its answer, ms. Default: the client's. */
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

export type ReplayOptions = z.input<typeof ReplayOptionsSchema>;

/** Where a replay is, for a progress display. */
export interface ReplayProgress {
  /** Logged predictions replayed and answered. */
  compared: number;
  /** Replayed jobs that failed or timed out. */
  failed: number;
  /** Logged predictions of the candidate version itself (or without inputs), not replayed. */
  skipped: number;
  /** At most this many will be read: the limit, or the log's length when the replay started. */
  total: number;
}

/** What a replay needs: a queue client for the jobs, and Redis for the reports. */
export interface ReplayDeps {
  client: Pick<QueueClient, 'predict' | 'predictionLog'>;
  redis: ComparisonRedis & PredictionLogRedis;
  prefix: string;
  onProgress?: (progress: ReplayProgress) => void;
}

/** Totals are written to Redis after this many answers, and at the end. */
const FLUSH_EVERY = 500;

/**
 * Replays a window of a model's prediction log against a candidate version: each logged input is
 * enqueued to the candidate at the lowest priority, and its answer compared with the logged output
 * (compareOutputs, as shadow does). The totals, per logged version, replace that pair's earlier
 * replay report (`source: 'replay'`). Resolves with the reports of this replay.
 */
export async function replayLog(
  deps: ReplayDeps,
  model: string,
  options: ReplayOptions,
): Promise<ComparisonReport[]> {
  const name = parseOrThrow(ModelNameSchema, model, 'model name');
  const opts = parseOrThrow(ReplayOptionsSchema, options, 'replay options');
  const { client, redis, prefix } = deps;
  const { entries } = await predictionLogSize(redis, prefix, name);
  const total = Math.min(entries, opts.limit ?? entries);
  const progress: ReplayProgress = { compared: 0, failed: 0, skipped: 0, total };
  const pending = new Map<string, StatsUpdate>();
  const started = new Set<string>();
  let unflushed = 0;

  const flush = async () => {
    for (const [serving, update] of pending) {
      const pair: ComparisonPair = {
        source: 'replay',
        model: name,
        serving,
        candidate: opts.version,
      };
      if (!started.has(serving)) {
        await resetComparison(redis, prefix, pair);
        started.add(serving);
      }
      await recordComparison(redis, prefix, pair, update);
    }
    pending.clear();
    unflushed = 0;
  };
  const add = (serving: string, update: StatsUpdate) => {
    const into = pending.get(serving) ?? { incr: {}, max: {} };
    pending.set(serving, mergeUpdate(into, update));
    unflushed += 1;
  };

  const replayOne = async (logged: LoggedPrediction) => {
    let answer: Prediction;
    try {
      answer = await client.predict(name, logged.inputs, {
        version: opts.version,
        priority: SHADOW_PRIORITY,
        log: false,
        outputs: Object.keys(logged.outputs),
        ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
      });
    } catch (error) {
      if (!isConveyorError(error)) throw error;
      progress.failed += 1;
      return add(logged.version, dropUpdate('failed'));
    }
    const outputs = answer.outputs as Record<string, Tensor>;
    const compared = compareOutputs(logged.outputs, outputs);
    progress.compared += 1;
    add(logged.version, statsUpdate(compared, { inferenceMs: logged.inferenceMs }, answer.timings));
  };

  const inFlight = new Set<Promise<void>>();
  const log = client.predictionLog(name, {
    ...(opts.since !== undefined && { since: opts.since }),
    ...(opts.limit !== undefined && { limit: opts.limit }),
    ...(opts.serving !== undefined && { version: opts.serving }),
  });
  for await (const logged of log) {
    if (logged.version === opts.version || Object.keys(logged.inputs).length === 0) {
      progress.skipped += 1;
      continue;
    }
    const job = replayOne(logged).finally(() => {
      inFlight.delete(job);
      deps.onProgress?.({ ...progress });
    });
    inFlight.add(job);
    if (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
    if (unflushed >= FLUSH_EVERY) await flush();
  }
  await Promise.all(inFlight);
  await flush();
  deps.onProgress?.({ ...progress });
  const reports = await readComparisons(redis, prefix, name, {
    source: 'replay',
    candidate: opts.version,
  });
  return reports.filter((r) => started.has(r.serving));
}
