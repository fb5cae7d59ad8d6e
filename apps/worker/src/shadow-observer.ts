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
  mergeUpdate,
  routeOfJobId,
  shadowPendingKey,
  statsUpdate,
  throttledErrorLog,
  type ComparisonPair,
  type Logger,
  type ShadowEntry,
  type StatsUpdate,
  type Tensor,
} from '@conveyor/shared';
import type { CompletedPrediction, PredictionObserver } from './prediction-observer.js';

/** Encoded bytes of a side's outputs. */
const wireBytes = (outputs: ShadowEntry['outputs']): number =>
  Object.values(outputs ?? {}).reduce((sum, wire) => sum + wire.data.length, 0);

/** What one side of a shadow pair leaves for the other; outputs left out past the size bound. */
function entryOf(prediction: CompletedPrediction): ShadowEntry {
  const outputs = Object.fromEntries(
    Object.entries(prediction.outputs).map(([name, tensor]) => [name, encodeTensor(tensor)]),
  );
  return {
    ...(wireBytes(outputs) <= SHADOW_MAX_OUTPUT_BYTES && { outputs }),
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

/** One side of a pair, finished in this process and waiting for the next meeting round. */
interface Arrival {
  readonly key: string;
  /** `s`: the serving job's side; `c`: the copy's. */
  readonly side: 's' | 'c';
  readonly entry: ShadowEntry;
  readonly pair: ComparisonPair;
}

/** A shadow observer, which meets the sides it holds in rounds; close meets what is left. */
export interface ShadowObserver extends PredictionObserver {
  /** Meets the sides still held, at once. Never rejects. */
  close(): Promise<void>;
}

/** Arrivals per meeting call at most (a long Lua call would stall Redis for everyone else). */
const MAX_PER_CALL = 256;
/**
 * Sides held at most, and their outputs' encoded bytes: past either, a round runs at once instead
 * of at the gate's quiet turn, which a busy process may only give after MAX_WAIT_MS.
 */
const MAX_HELD = 1024;
const MAX_HELD_BYTES = 16 * 1024 * 1024;

/**
 * Compares a serving job with its shadow copy (see docs/lifecycle.md, "Shadow and replay"): each
 * side, once completed, meets the other on a short-lived hash keyed by the serving job's id; the
 * side that finishes second gets the other's outputs back, compares them (compareOutputs) and adds
 * the result to the pair's totals. Sides are met in rounds, one script per model for all that
 * finished since the last round, at `whenQuiet` (the shadow gate: when no live job runs), so a
 * live job's side costs its neighbours no Redis call of its own. Off the job's path, like every
 * observer.
 */
export function createShadowObserver(options: {
  connection: Pick<Redis, 'eval'>;
  prefix: string;
  log: Logger;
  /** Runs a meeting round; default: on the next turn. */
  whenQuiet?: (work: () => Promise<void>) => Promise<void>;
  /** How long the first side waits for the second, ms. Default SHADOW_PENDING_TTL_MS. */
  pendingTtlMs?: number;
}): ShadowObserver {
  const { connection, prefix, log } = options;
  const ttl = String(options.pendingTtlMs ?? SHADOW_PENDING_TTL_MS);
  const whenQuiet = options.whenQuiet ?? ((work) => new Promise(setImmediate).then(work));
  const warn = throttledErrorLog(log, 'shadow comparison failed');
  let held: Arrival[] = [];
  let heldBytes = 0;
  let scheduled = false;

  /** Meets every side held now; what arrives meanwhile waits for the next round. */
  async function meetHeld(): Promise<void> {
    const round = held;
    held = [];
    heldBytes = 0;
    const byModel = new Map<string, Arrival[]>();
    for (const arrival of round) {
      const arrivals = byModel.get(arrival.pair.model);
      if (arrivals) arrivals.push(arrival);
      else byModel.set(arrival.pair.model, [arrival]);
    }
    const updates = new Map<string, { pair: ComparisonPair; update: StatsUpdate }>();
    for (const arrivals of byModel.values())
      for (let i = 0; i < arrivals.length; i += MAX_PER_CALL)
        await meet(arrivals.slice(i, i + MAX_PER_CALL), updates);
    for (const { pair, update } of updates.values())
      await connection.eval(
        RECORD_COMPARISON_SCRIPT,
        2,
        comparisonKey(prefix, pair),
        comparisonsIndexKey(prefix, pair.model),
        JSON.stringify(update),
        comparisonMember(pair),
      );
  }

  /** One meeting call for one model's arrivals; adds each met pair's update to `updates`. */
  async function meet(
    arrivals: readonly Arrival[],
    updates: Map<string, { pair: ComparisonPair; update: StatsUpdate }>,
  ): Promise<void> {
    const argv = arrivals.flatMap((a) => [a.side, JSON.stringify(a.entry)]);
    const keys = arrivals.map((a) => a.key);
    const found = (await connection.eval(
      MEET_SHADOW_SCRIPT,
      keys.length,
      ...keys,
      ttl,
      ...argv,
    )) as (string | null)[];
    arrivals.forEach((mine, i) => {
      const raw = found[i];
      if (raw === null || raw === undefined) return;
      const theirs = ShadowEntrySchema.parse(JSON.parse(raw));
      const update =
        mine.side === 'c' ? updateOf(theirs, mine.entry) : updateOf(mine.entry, theirs);
      const member = comparisonMember(mine.pair);
      const known = updates.get(member);
      if (known) mergeUpdate(known.update, update);
      else updates.set(member, { pair: mine.pair, update });
    });
  }

  const runRound = (): Promise<void> => meetHeld().catch(warn);

  return {
    wants: (_model, _version, payload) =>
      payload.shadowOf !== undefined || payload.shadowedBy !== undefined ? 'outputs' : 'no',
    completed(prediction) {
      const { payload, model } = prediction;
      const isCopy = payload.shadowOf !== undefined;
      const servingJob = payload.shadowOf ?? prediction.jobId;
      const shadowJob = payload.shadowedBy ?? prediction.jobId;
      const entry = entryOf(prediction);
      heldBytes += wireBytes(entry.outputs);
      held.push({
        key: shadowPendingKey(prefix, model, servingJob),
        side: isCopy ? 'c' : 's',
        entry,
        pair: {
          source: 'shadow',
          model,
          serving: routeOfJobId(servingJob).version,
          candidate: routeOfJobId(shadowJob).version,
        },
      });
      if (held.length >= MAX_HELD || heldBytes >= MAX_HELD_BYTES) return void runRound();
      if (scheduled) return;
      scheduled = true;
      void whenQuiet(() => {
        scheduled = false;
        return runRound();
      });
    },
    close: () => (held.length > 0 ? runRound() : Promise.resolve()),
  };
}
