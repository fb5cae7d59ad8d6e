import type { Redis } from 'ioredis';
import {
  MEET_SHADOW_SCRIPT,
  RECORD_COMPARISON_SCRIPT,
  SHADOW_MAX_OUTPUT_BYTES,
  SHADOW_PENDING_TTL_MS,
  ShadowEntrySchema,
  compareOutputs,
  comparisonKey,
  comparisonMember,
  comparisonsIndexKey,
  decodeTensor,
  dropUpdate,
  encodeTensor,
  routeOfJobId,
  shadowPendingKey,
  statsUpdate,
  type ComparisonPair,
  type ShadowEntry,
  type StatsUpdate,
  type Tensor,
} from '@conveyor/shared';
import type { CompletedPrediction, PredictionObserver } from './prediction-observer.js';

/** What one side of a shadow pair leaves for the other; outputs left out past the size bound. */
function entryOf(prediction: CompletedPrediction): ShadowEntry {
  const outputs = Object.fromEntries(
    Object.entries(prediction.outputs).map(([name, tensor]) => [name, encodeTensor(tensor)]),
  );
  const bytes = Object.values(outputs).reduce((sum, wire) => sum + wire.data.length, 0);
  return {
    ...(bytes <= SHADOW_MAX_OUTPUT_BYTES && { outputs }),
    inferenceMs: prediction.inferenceMs,
    queuedMs: prediction.queuedMs,
  };
}

const decoded = (outputs: ShadowEntry['outputs']): Record<string, Tensor> =>
  Object.fromEntries(
    Object.entries(outputs ?? {}).map(([name, wire]) => [name, decodeTensor(wire)]),
  );

/** What a met pair adds to its totals: the comparison, or a drop when outputs were too large. */
function updateOf(serving: ShadowEntry, candidate: ShadowEntry): StatsUpdate {
  if (!serving.outputs || !candidate.outputs) return dropUpdate('too-large');
  return statsUpdate(
    compareOutputs(decoded(serving.outputs), decoded(candidate.outputs)),
    serving,
    candidate,
  );
}

/**
 * Compares a serving job with its shadow copy (see docs/lifecycle.md, "Shadow and replay"): each
 * side, once completed, meets the other in one script on a short-lived hash keyed by the serving
 * job's id; the side that finishes second gets the other's outputs back, compares them
 * (compareOutputs) and adds the result to the pair's totals. Off the job's path, like every observer.
 */
export function createShadowObserver(options: {
  connection: Pick<Redis, 'eval'>;
  prefix: string;
  /** How long the first side waits for the second, ms. Default SHADOW_PENDING_TTL_MS. */
  pendingTtlMs?: number;
}): PredictionObserver {
  const { connection, prefix } = options;
  const ttl = String(options.pendingTtlMs ?? SHADOW_PENDING_TTL_MS);
  return {
    wants: (_model, _version, payload) =>
      payload.shadowOf !== undefined || payload.shadowedBy !== undefined ? 'outputs' : 'no',
    async completed(prediction) {
      const { payload, model } = prediction;
      const isCopy = payload.shadowOf !== undefined;
      const servingJob = payload.shadowOf ?? prediction.jobId;
      const shadowJob = payload.shadowedBy ?? prediction.jobId;
      const pair: ComparisonPair = {
        source: 'shadow',
        model,
        serving: routeOfJobId(servingJob).version,
        candidate: routeOfJobId(shadowJob).version,
      };
      const mine = entryOf(prediction);
      const raw = (await connection.eval(
        MEET_SHADOW_SCRIPT,
        1,
        shadowPendingKey(prefix, model, servingJob),
        isCopy ? 'c' : 's',
        JSON.stringify(mine),
        ttl,
      )) as string | null;
      if (raw === null) return;
      const theirs = ShadowEntrySchema.parse(JSON.parse(raw));
      const update = isCopy ? updateOf(theirs, mine) : updateOf(mine, theirs);
      await connection.eval(
        RECORD_COMPARISON_SCRIPT,
        2,
        comparisonKey(prefix, pair),
        comparisonsIndexKey(prefix, model),
        JSON.stringify(update),
        comparisonMember(pair),
      );
    },
  };
}
