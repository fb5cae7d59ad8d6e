import type { BulkItem, PredictOptions, QueueClient } from '@conveyor/sdk';
import { isConveyorError } from '@conveyor/shared';
import { formatEntry, type BatchEntry } from './batches-entries.js';
import { relabel } from './batches-items.js';
import { entriesOf, unpackUnit, type BatchUnit } from './batches-pack.js';
import type { JobsContext } from './jobs-context.js';

/** Jobs per enqueueMany call (one BullMQ addBulk round trip each). */
export const BATCH_CHUNK = 1000;

export interface SubmitBatch {
  client: Pick<QueueClient, 'enqueueMany' | 'job'>;
  ctx: JobsContext;
  model: string;
  /** The batch's Redis list and how long it lives, in seconds. */
  key: string;
  ttl: number;
  units: BatchUnit[];
  /** Where each item was in the request, to name a refused one. */
  labels: readonly string[];
  options: PredictOptions;
  /** Set when the batch has a callback (its units are then single items). */
  callback?: { url: string; version: string | undefined; owner: string | undefined };
}

/**
 * Enqueues one chunk of units. The SDK checks every job before it adds any: a refused packed job
 * is split into its items and the chunk tried again, so a refusal always names the one bad item.
 */
async function enqueueChunk(batch: SubmitBatch, units: BatchUnit[]): Promise<BatchEntry[]> {
  const { client, ctx, model, callback, labels } = batch;
  let part = units;
  for (;;) {
    let jobs: BulkItem[] = part.map((u) => u.job);
    let forget = () => Promise.resolve();
    // With a callback, each job gets its id first and its callback stored before it exists, as
    // for a single job (see jobs.ts).
    if (callback !== undefined) {
      const registered = await ctx.webhooks.registerBefore(
        model,
        jobs.map((job) => job.idempotencyKey),
        callback.url,
        callback.version,
        callback.owner,
      );
      jobs = jobs.map((job, i) => {
        const idempotencyKey = registered.keys[i];
        return idempotencyKey === undefined ? job : { ...job, idempotencyKey };
      });
      forget = registered.forget;
    }
    try {
      const handles = await client.enqueueMany(model, jobs, batch.options);
      return entriesOf(
        part,
        handles.map((h) => h.id),
      );
    } catch (error) {
      await forget();
      const index = isConveyorError(error) ? error.details.index : undefined;
      const unit = typeof index === 'number' ? part[index] : undefined;
      if (unit === undefined) throw error;
      if (unit.rows === undefined)
        throw relabel(error, labels[unit.first] ?? `items.${unit.first}`, { index: unit.first });
      part = [
        ...part.slice(0, index as number),
        ...unpackUnit(unit),
        ...part.slice((index as number) + 1),
      ];
    }
  }
}

/**
 * Enqueues a batch's units BATCH_CHUNK at a time and appends each item's entry (see
 * batches-entries.ts) to the batch's list as its chunk is added. Returns each item's job id. On a
 * refusal, the jobs of earlier chunks that no worker took yet are cancelled and the list deleted:
 * as close to all-or-nothing as a queue allows.
 */
export async function submitBatch(batch: SubmitBatch): Promise<string[]> {
  const { client, ctx, key, ttl, units } = batch;
  const { redis } = ctx.queues;
  const ids: string[] = [];
  try {
    for (let start = 0; start < units.length; start += BATCH_CHUNK) {
      const entries = await enqueueChunk(batch, units.slice(start, start + BATCH_CHUNK));
      ids.push(...entries.map((e) => e.jobId));
      await redis
        .multi()
        .rpush(key, ...entries.map(formatEntry))
        .expire(key, ttl)
        .exec();
    }
  } catch (error) {
    await Promise.allSettled([...new Set(ids)].map((id) => client.job(id).cancel()));
    await redis.del(key).catch(() => 0);
    throw error;
  }
  return ids;
}
