import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How far the old generation may grow past what the last full collection kept, in percent. */
export const BATCH_HEAP_GROWING_PERCENT = 40;

/**
 * Has V8 run a full garbage collection once the old generation has grown by
 * BATCH_HEAP_GROWING_PERCENT, instead of by its own factor (up to 4x when collections are cheap).
 * A batch keeps a small window of rows live, but whatever is in flight outlives a few scavenges
 * (a job takes longer), so it is promoted and the old generation fills with garbage at a steady
 * rate: with V8's factor the process grew by about 50 MB between full collections on a
 * million-row run. V8 applies the factor when a full collection ends, so one is run here, while
 * little is live. Process-wide, for the rest of the process, which for the CLI is the batch.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${BATCH_HEAP_GROWING_PERCENT}`);
  // A context made after --expose-gc is set has `gc`, whatever flags the process started with.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
}
