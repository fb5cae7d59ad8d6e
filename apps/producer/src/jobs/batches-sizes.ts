import type { Prediction } from '@conveyor/sdk';

/** Rows of a packed job while nothing is known of the model's speed. */
export const PACK_ROWS = 256;
/** Rows of a packed job at least and at most, whatever the model's speed. */
export const MIN_PACK_ROWS = 16;
export const MAX_PACK_ROWS = 4096;
/** Inference a packed job aims at, in ms: long enough that a job's queue overhead is small. */
export const TARGET_PACK_MS = 20;
/** Weight of the newest ms-per-row sample in the running average. */
const SMOOTHING = 0.3;

/** How many rows the next packed job of a model holds, learned from packed jobs that finished. */
export interface PackSizes {
  rows(model: string): number;
  /** Learns ms per row from a finished packed job of `rows` rows. */
  observe(model: string, timings: Prediction['timings'], rows: number): void;
}

/**
 * Per model, in this producer: onnxruntime's time per row of the run a packed job ran in
 * (`runMs / batchRows`, or the job's inference time per row where those are unknown), averaged,
 * gives the rows of about TARGET_PACK_MS. Until a packed job of the model was read, PACK_ROWS.
 * Only models a batch packed for (announced ones) are kept.
 */
export function createPackSizes(): PackSizes {
  const msPerRow = new Map<string, number>();
  return {
    rows(model) {
      const ms = msPerRow.get(model);
      if (ms === undefined) return PACK_ROWS;
      const wanted = ms > 0 ? TARGET_PACK_MS / ms : MAX_PACK_ROWS;
      return Math.round(Math.min(MAX_PACK_ROWS, Math.max(MIN_PACK_ROWS, wanted)));
    },
    observe(model, timings, rows) {
      if (rows < 1) return;
      const { runMs, batchRows } = timings;
      const sample =
        runMs !== undefined && batchRows !== undefined && batchRows > 0
          ? runMs / batchRows
          : timings.inferenceMs / rows;
      if (!Number.isFinite(sample) || sample < 0) return;
      const known = msPerRow.get(model);
      msPerRow.set(model, known === undefined ? sample : known + SMOOTHING * (sample - known));
    },
  };
}
