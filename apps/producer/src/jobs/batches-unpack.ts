import type { JobSummary, Prediction, PredictOptions, QueueClient } from '@conveyor/sdk';
import { isConveyorError, type Tensor } from '@conveyor/shared';
import type { BatchEntry } from './batches-entries.js';
import type { LazyJobsContext } from './jobs-context.js';
import { pause } from './jobs-wait.js';

/** Failure codes that say something about a packed job's data: its items then run alone. */
const DATA_ERRORS: ReadonlySet<string> = new Set([
  'ERR_VALIDATION',
  'ERR_INFERENCE_FAILED',
  'ERR_FEATURES_UNSUPPORTED',
  'ERR_PAYLOAD_TOO_LARGE',
  'ERR_RESULT_TOO_LARGE',
]);

/** Whether a failure code says something about a packed job's data (its items then run alone). */
export function isDataFailure(code: string): boolean {
  return DATA_ERRORS.has(code) || code.startsWith('ERR_INPUT_') || code.startsWith('ERR_TENSOR_');
}

/** The failure code of a job that failed, else undefined. */
export function failureOf(record: JobSummary | undefined): string | undefined {
  const outcome = record?.outcome;
  return outcome === undefined || outcome.ok ? undefined : outcome.error.code;
}

/** Rows `[start, start + count)` of a tensor whose first dimension is the pack's rows. */
function rowsOf(tensor: Tensor, start: number, count: number) {
  const total = tensor.shape[0] ?? 0;
  const perRow = total === 0 ? 0 : tensor.data.length / total;
  const data = Array.isArray(tensor.data)
    ? tensor.data.slice(start * perRow, (start + count) * perRow)
    : tensor.data.subarray(start * perRow, (start + count) * perRow);
  return { dtype: tensor.dtype, shape: [count, ...tensor.shape.slice(1)], data };
}

/** Re-submits the items of a packed job that failed for its data, one job per item. */
export interface Unpacker {
  /**
   * Enqueues each of `indices` (entries of the packed job `jobId`) as a job of its own, from the
   * packed job's own inputs, and rewrites their entries in the batch's list `key` to the new ids.
   * Returns the new ids in the order of `indices`, or undefined when the packed job (or its stored
   * inputs, or its deadline) is gone: its items then keep its failure.
   */
  unpack(
    key: string,
    jobId: string,
    entries: readonly BatchEntry[],
    indices: readonly number[],
  ): Promise<string[] | undefined>;
}

/**
 * Each item's job has the idempotency key `unpack-<packed job's uuid>-<first row>`, under the
 * packed job's owner: readers that see the failure at once (a status read and a results stream,
 * or two replicas) re-submit the same jobs, and each item runs once.
 */
export function createUnpacker(
  client: Pick<QueueClient, 'enqueueMany' | 'job'>,
  context: LazyJobsContext,
): Unpacker {
  const running = new Map<string, Promise<string[] | undefined>>();

  async function run(
    key: string,
    jobId: string,
    entries: readonly BatchEntry[],
    indices: readonly number[],
  ) {
    const ctx = await context.get();
    // Read back through the SDK's one job reader (payload and stored inputs).
    const payload = await client.job(jobId).request();
    if (payload === undefined) return undefined;
    const { priority, inputs: tensors } = payload;
    if (payload.deadline !== undefined && payload.deadline <= Date.now()) return undefined;
    const uuid = jobId.split('.').at(-1) ?? jobId;
    const items = indices.map((index) => {
      const { start, count } = entries[index]?.rows ?? { start: 0, count: 0 };
      const inputs: Record<string, ReturnType<typeof rowsOf>> = {};
      for (const [name, tensor] of Object.entries(tensors))
        inputs[name] = rowsOf(tensor, start, count);
      return { inputs, idempotencyKey: `unpack-${uuid}-${start}` };
    });
    const options: PredictOptions = { version: payload.version };
    if (payload.outputs !== undefined) options.outputs = payload.outputs;
    if (payload.owner !== undefined) options.owner = payload.owner;
    if (payload.deadline !== undefined) options.deadline = payload.deadline;
    if (priority !== undefined) options.priority = priority;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const ids = (await client.enqueueMany(payload.model, items, options)).map((h) => h.id);
        const writes = ctx.queues.redis.multi();
        for (const [i, index] of indices.entries()) writes.lset(key, index, ids[i] ?? '');
        // A list that expired meanwhile has nothing to rewrite.
        await writes.exec().catch(() => undefined);
        return ids;
      } catch (error) {
        // Another reader is adding the same jobs right now: theirs are ours.
        const busy = isConveyorError(error) && error.code === 'ERR_IDEMPOTENCY_IN_PROGRESS';
        if (!busy || attempt >= 5) return undefined;
        await pause(100, new AbortController().signal);
      }
    }
  }

  return {
    unpack(key, jobId, entries, indices) {
      const known = running.get(jobId);
      if (known !== undefined) return known;
      const started = run(key, jobId, entries, indices).catch(() => undefined);
      running.set(jobId, started);
      void started.finally(() => running.delete(jobId));
      return started;
    },
  };
}

/** A batch as a request reads it: its entries, rewritten here as packed jobs are unpacked. */
export interface BatchSource {
  key: string;
  entries: BatchEntry[];
  /** Entry indices per job id, as the batch was read. */
  groups: Map<string, number[]>;
  unpacker: Unpacker;
  /** Told each packed job's prediction once, with its rows, to size later packs. */
  learn?: (prediction: Prediction, rows: number) => void;
}

/**
 * If entry `index` is a packed item whose job failed with `code` for its data, re-submits every
 * item of that job alone (see Unpacker) and points their entries at their new jobs. True when
 * entry `index` now names a new job.
 */
export async function unpackFailed(
  source: BatchSource,
  index: number,
  code: string | undefined,
): Promise<boolean> {
  const entry = source.entries[index];
  if (entry?.rows === undefined || code === undefined || !isDataFailure(code)) return false;
  const indices = (source.groups.get(entry.jobId) ?? [index]).filter(
    (i) => source.entries[i]?.jobId === entry.jobId,
  );
  const ids = await source.unpacker.unpack(source.key, entry.jobId, source.entries, indices);
  if (ids === undefined) return false;
  for (const [i, at] of indices.entries()) source.entries[at] = { jobId: ids[i] ?? '' };
  return true;
}
