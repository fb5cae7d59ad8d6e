import type { Prediction } from './client.js';

/** Rows in the first pack of a call, before any job has said how long a row takes. */
export const FIRST_PACK_ROWS = 64;
/** Rows of a pack at most, whatever the model's speed. */
export const MAX_PACK_ROWS = 4096;
/**
 * Input bytes of a pack at most (inputBytes' estimate): large items, such as images, fill a job
 * with few rows, whose queue overhead is already small next to their inference.
 */
export const MAX_PACK_BYTES = 4 * 1024 * 1024;
/**
 * Inference time a pack aims at, in ms: long enough that a job's queue overhead (a few ms of CPU
 * across client, Redis and worker on a busy host) is small next to it.
 */
export const TARGET_PACK_MS = 50;
/** A pack grows or shrinks by at most this factor per finished pack, so one odd timing does little. */
const MAX_STEP = 4;
/** The estimate of ms per row is the fastest of this many latest packs. */
const SAMPLES = 8;

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
 * A sizer that moves toward TARGET_PACK_MS of inference per pack, using onnxruntime's own time per
 * row (`runMs / batchRows`, the call the pack ran in) and the job's inference time where those are
 * unknown. It takes the fastest of the latest packs: a busy host only ever adds time (a tiny
 * model's call is mostly thread and scheduling overhead there), and an average of such samples kept
 * packs of a fast model far below the size that pays. `fixedRows` turns adaptation off: packs then
 * fall on the same items on every run, as idempotency keys need.
 */
export function createPackSizer(fixedRows?: number): PackSizer {
  let rows = fixedRows ?? FIRST_PACK_ROWS;
  let cap = MAX_PACK_ROWS;
  const samples: number[] = [];
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
      samples.push(sample);
      if (samples.length > SAMPLES) samples.shift();
      const msPerRow = Math.min(...samples);
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
