import { setFlagsFromString } from 'node:v8';

/**
 * How far a worker's old generation may grow past what its last full collection left before the
 * next one starts: `--heap-growing-percent`, a fixed factor of 3 in place of V8's own (between
 * 1.1 and 4, from how fast it collected and how much time it spent collecting).
 */
export const WORKER_HEAP_GROWING_PERCENT = 200;

const OWN_FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

/** The V8 flag a worker sets at start; none when its process was started with its own. */
export function heapGrowthFlag(execArgv: readonly string[]): string | undefined {
  return execArgv.some((arg) => OWN_FLAG.test(arg))
    ? undefined
    : `--heap-growing-percent=${WORKER_HEAP_GROWING_PERCENT}`;
}

/**
 * Sets the worker's heap growth (see WORKER_HEAP_GROWING_PERCENT), unless node was started with
 * `--heap-growing-percent` (which then stands). V8 reads it each time a full collection sets the
 * next limit, so setting it once the process runs takes effect from the next one.
 *
 * Why: V8 counts the ArrayBuffer memory allocated since the last full collection against the old
 * generation's limit. An image worker allocates about 220 KB of it per job (the socket's chunks
 * and the 110 KB input ioredis joins from them), tens of MB between two scavenges, which free it.
 * After a full collection that happened to run just after a scavenge, that count climbs by the
 * next scavenge to more than the room V8's own factor left (about 25 MB over 20 MB live), so the
 * next full collection starts at once, and the next. Driven as `pnpm bench`'s image scenario, a
 * worker went through phases of 6 to 16 mark-compacts per 3,000 jobs (in 14 turns of 41; 100 to
 * 170 µs more of its CPU per job), coming and going with where each collection landed; with room
 * for three times what is live, it had 0 to 2 in each of 16 turns.
 */
export function steadyHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  const flag = heapGrowthFlag(execArgv);
  if (flag) setFlagsFromString(flag);
}
