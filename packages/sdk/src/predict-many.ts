import { parseOrThrow, toConveyorError } from '@conveyor/shared';
import { PredictManyOptionsSchema, type PredictManyResult } from './client.js';
import { inputBytes, rowLayout } from './row-pack.js';
import { runPack, type Pack, type PackContext, type PredictOne } from './row-pack-run.js';
import { MAX_PACK_BYTES, MAX_PACK_ROWS, createPackSizer } from './row-pack-sizer.js';

export type { PredictOne } from './row-pack-run.js';

/** Packed jobs in flight at most, whatever `concurrency` says: each holds up to MAX_PACK_ROWS rows. */
export const MAX_PACKS_IN_FLIGHT = 8;
/**
 * Rows per pack under an idempotency key prefix. Fixed, so that a re-run packs the same items
 * together and so finds the same jobs by their keys.
 */
export const KEYED_PACK_ROWS = 256;
/** A pack waits at most this long (ms) for a slow source's next item before it is sent. */
export const PACK_LINGER_MS = 10;

const LATE = Symbol('late');
const DONE = Symbol('done');

function lingerTimer(): { late: Promise<typeof LATE>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), PACK_LINGER_MS);
  });
  return { late, clear: () => clearTimeout(timer) };
}

/**
 * predictMany for any client. Consecutive items whose inputs have a first (batch) dimension are
 * packed into one job (see row-pack.ts) sized toward a target inference time, and each item still
 * gets its own result and its own error. At most `concurrency` jobs are in flight (running, or
 * finished but held back for order), and at most MAX_PACKS_IN_FLIGHT when packing. ERR_CLOSED
 * ends the iteration, since every later item would fail the same way.
 */
export async function* predictMany(
  predictOne: PredictOne,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  options: unknown,
): AsyncIterableIterator<PredictManyResult> {
  const { ordered, concurrency, idempotencyKeyPrefix, pack, ...shared } = parseOrThrow(
    PredictManyOptionsSchema,
    options ?? {},
    'predictMany options',
  );
  const source: AsyncIterator<unknown> | Iterator<unknown> =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  const keyed = idempotencyKeyPrefix !== undefined;
  let packing = pack !== false;
  const ctx: PackContext = {
    predictOne,
    shared,
    keyPrefix: idempotencyKeyPrefix,
    sizer: createPackSizer(keyed ? KEYED_PACK_ROWS : undefined),
    // Under keys, packs must fall the same way on every run, whatever finished first: keep packing.
    packingFailed: () => {
      if (pack === 'auto' && !keyed) packing = false;
    },
  };
  const limit = () => (packing ? Math.min(concurrency, MAX_PACKS_IN_FLIGHT) : concurrency);

  /** A job in flight: its items not yet yielded. */
  interface Running {
    remaining: number;
  }
  const finished = new Map<number, { result: PredictManyResult; job: Running }>();
  let jobs = 0;
  let nextIndex = 0;
  let nextToYield = 0;
  let exhausted = false;
  let carried: { value: unknown } | undefined;
  let reading: Promise<IteratorResult<unknown>> | undefined;
  let wake: (() => void) | undefined;

  /** The next item; LATE when `late` settles first (the read stays pending for the next call). */
  const take = async (late?: Promise<typeof LATE>): Promise<unknown> => {
    if (carried !== undefined) {
      const { value } = carried;
      carried = undefined;
      return value;
    }
    if (exhausted) return DONE;
    reading ??= Promise.resolve(source.next());
    const got = late === undefined ? await reading : await Promise.race([reading, late]);
    if (got === LATE) return LATE;
    reading = undefined;
    if (got.done === true) {
      exhausted = true;
      return DONE;
    }
    return got.value;
  };

  /** Reads the items of the next job: one, or as many compatible ones as the pack size allows. */
  const fill = async (): Promise<Pack | undefined> => {
    const first = await take();
    if (first === DONE) return undefined;
    const layout = packing ? rowLayout(first) : undefined;
    const job: Pack = {
      first: nextIndex++,
      items: [first],
      layouts: [layout ?? { key: '', rows: 1 }],
      rows: layout?.rows ?? 1,
    };
    if (layout === undefined) return job;
    const linger = keyed ? undefined : lingerTimer();
    let bytes = inputBytes(first);
    try {
      while (job.rows < ctx.sizer.rows) {
        const next = await take(linger?.late);
        if (next === LATE || next === DONE) break;
        const own = rowLayout(next);
        const more = own === undefined ? 0 : inputBytes(next);
        if (
          own === undefined ||
          own.key !== layout.key ||
          job.rows + own.rows > MAX_PACK_ROWS ||
          bytes + more > MAX_PACK_BYTES
        ) {
          carried = { value: next };
          break;
        }
        job.items.push(next);
        job.layouts.push(own);
        job.rows += own.rows;
        bytes += more;
        nextIndex += 1;
      }
    } finally {
      linger?.clear();
    }
    return job;
  };

  const start = (job: Pack): void => {
    jobs += 1;
    const running: Running = { remaining: job.items.length };
    const settle = (results: PredictManyResult[]) => {
      for (const result of results) finished.set(result.index, { result, job: running });
      const resume = wake;
      wake = undefined;
      resume?.();
    };
    runPack(ctx, job).then(settle, (error: unknown) =>
      settle(
        job.items.map((_, i) => ({
          index: job.first + i,
          ok: false,
          error: toConveyorError(error),
        })),
      ),
    );
  };

  try {
    for (;;) {
      while (jobs < limit()) {
        const job = await fill();
        if (job === undefined) break;
        start(job);
      }
      const ready: { result: PredictManyResult; job: Running }[] = [];
      if (ordered) {
        for (let r = finished.get(nextToYield); r; r = finished.get(nextToYield)) {
          finished.delete(nextToYield++);
          ready.push(r);
        }
      } else {
        ready.push(...finished.values());
        finished.clear();
      }
      for (const { result, job } of ready) {
        job.remaining -= 1;
        if (job.remaining === 0) jobs -= 1;
        if (!result.ok && result.error.code === 'ERR_CLOSED') throw result.error;
        yield result;
      }
      if (ready.length > 0) continue;
      if (exhausted && carried === undefined && jobs === 0) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!exhausted) await source.return?.();
  }
}
