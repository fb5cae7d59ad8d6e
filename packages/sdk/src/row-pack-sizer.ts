import type { Prediction } from './client.js';

/** Rows in the first pack of a call, before any job has said how long a row takes. */
export const FIRST_PACK_ROWS = 64;
/** Rows of a pack at most, whatever the model's speed. */
export const MAX_PACK_ROWS = 4096;
/** Inference time a pack aims at, in ms: long enough that a job's queue overhead is small next to it. */
export const TARGET_PACK_MS = 20;
/** A pack grows or shrinks by at most this factor per finished pack, so one odd timing does little. */
const MAX_STEP = 4;
/** Weight of the newest ms-per-row sample in the running average. */
const SMOOTHING = 0.3;

/** Chooses how many rows the next pack holds, from what finished packs took. */
export interface PackSizer {
  /** Rows for the next pack. */
  readonly rows: number;
  /** Learns ms per row from a finished pack of `rows` rows. */
  observe(timings: Prediction['timings'], rows: number): void;
  /** Halves the pack: one was too large for a tensor, payload or result limit. */
  shrink(): void;
}

/**
 * A sizer that moves toward TARGET_PACK_MS of inference per pack, using onnxruntime's own time
 * per row (`runMs / batchRows`, the call the pack ran in) and the job's inference time where
 * those are unknown. `fixedRows` turns adaptation off: packs then fall on the same items on every
 * run, as idempotency keys need.
 */
export function createPackSizer(fixedRows?: number): PackSizer {
  let rows = fixedRows ?? FIRST_PACK_ROWS;
  let cap = MAX_PACK_ROWS;
  let msPerRow: number | undefined;
  return {
    get rows() {
      return rows;
    },
    observe(timings, packRows) {
      if (fixedRows !== undefined || packRows < 1) return;
      const sample =
        timings.runMs !== undefined && timings.batchRows !== undefined && timings.batchRows > 0
          ? timings.runMs / timings.batchRows
          : timings.inferenceMs / packRows;
      if (!Number.isFinite(sample) || sample < 0) return;
      msPerRow = msPerRow === undefined ? sample : msPerRow + SMOOTHING * (sample - msPerRow);
      const wanted = msPerRow > 0 ? TARGET_PACK_MS / msPerRow : cap;
      const next = Math.min(Math.max(wanted, rows / MAX_STEP), rows * MAX_STEP);
      rows = Math.max(1, Math.min(cap, Math.round(next)));
    },
    shrink() {
      cap = Math.max(1, Math.floor(rows / 2));
      rows = cap;
    },
  };
}
