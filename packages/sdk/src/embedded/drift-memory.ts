import type { Engine, ServedModel } from '@conveyor/engine';
import {
  DEFAULTS,
  DRIFT_RETENTION_MS,
  ModelNameSchema,
  addFeatureCounts,
  driftTallyOf,
  emptyFeatureCounts,
  parseOrThrow,
  scoreDrift,
  tallyInputs,
  type DriftReport,
  type DriftTally,
  type FeatureCounts,
  type Tensor,
} from '@conveyor/shared';
import { DriftQuerySchema, type DriftQuery } from '../drift.js';

/** Width of one time slice of counts, ms: the workers' default DRIFT_SLICE_MS. */
const SLICE_MS = DEFAULTS.driftSliceMs;

/** The embedded client's drift: every input of versions with a baseline, counted in memory. */
export interface DriftMemory {
  /** Counts a completed prediction's inputs, when its version has a baseline. */
  observe(model: string, version: string, inputs: Readonly<Record<string, Tensor>>): void;
  /** client.drift: the served versions with a baseline, scored over the window ending now. */
  drift(model: string, query?: DriftQuery): DriftReport;
}

const byVersion = (a: string, b: string): number =>
  a.localeCompare(b, undefined, { numeric: true });

/**
 * Drift for the embedded client, with the queue's report but no Redis: each served version whose
 * model.json has a `baseline` counts all its inputs (no sampling) into one-minute slices kept for
 * DRIFT_RETENTION_MS, scored with the workers' scoreDrift. Counts are per baseline id, so a
 * version reloaded with another baseline starts afresh.
 */
export function createDriftMemory(engine: Pick<Engine, 'models' | 'resolve'>): DriftMemory {
  const tallies = new WeakMap<ServedModel, DriftTally | null>();
  /** `<model>|<version>|<baseline id>` to its slices' counts by slice start. */
  const slices = new Map<string, Map<number, FeatureCounts[]>>();

  const tallyOf = (served: ServedModel): DriftTally | undefined => {
    let tally = tallies.get(served);
    if (tally === undefined) {
      tally = driftTallyOf(served.entry.config, served.signature.inputs) ?? null;
      tallies.set(served, tally);
    }
    return tally ?? undefined;
  };
  const keyOf = (model: string, version: string, tally: DriftTally) =>
    `${model}|${version}|${tally.meta.id}`;

  return {
    observe(model, version, inputs) {
      const served = engine.models.get(model)?.find((v) => v.entry.version === version);
      const tally = served && tallyOf(served);
      if (!tally) return;
      const key = keyOf(model, version, tally);
      let byStart = slices.get(key);
      if (!byStart) slices.set(key, (byStart = new Map<number, FeatureCounts[]>()));
      const now = Date.now();
      const start = now - (now % SLICE_MS);
      let counts = byStart.get(start);
      if (!counts) {
        // A new slice: the time to drop those past the retention, as the workers' flush does.
        for (const old of byStart.keys())
          if (old < now - DRIFT_RETENTION_MS - SLICE_MS) byStart.delete(old);
        byStart.set(start, (counts = emptyFeatureCounts(tally)));
      }
      tallyInputs(tally, inputs, counts);
    },
    drift(model, query = {}) {
      const name = parseOrThrow(ModelNameSchema, model, 'model');
      const { version, windowMs } = parseOrThrow(DriftQuerySchema, query, 'drift query');
      const since = Date.now() - windowMs;
      const served = (engine.models.get(name) ?? [])
        .filter((v) => version === undefined || v.entry.version === version)
        .sort((a, b) => byVersion(a.entry.version, b.entry.version));
      const versions = served.flatMap((v) => {
        const tally = tallyOf(v);
        if (!tally) return [];
        const counts: FeatureCounts[] = [];
        for (const [start, slice] of slices.get(keyOf(name, v.entry.version, tally)) ?? [])
          if (start >= since) addFeatureCounts(counts, slice);
        return [scoreDrift(v.entry.version, tally.meta, counts)];
      });
      return { model: name, windowMs, versions };
    },
  };
}
