import { parseOrThrow, toConveyorError, type PredictOptions } from '@conveyor/shared';
import {
  PredictManyOptionsSchema,
  type Outputs,
  type Prediction,
  type PredictManyResult,
} from './client.js';

/** How predictMany runs one item: the client's own predict. */
export type PredictOne = (inputs: unknown, options: PredictOptions) => Promise<Prediction<Outputs>>;

/**
 * predictMany for any client: at most `concurrency` items in flight (running, or finished but
 * held back for order), each item's failure yielded as its result. ERR_CLOSED ends the iteration,
 * since every later item would fail the same way.
 */
export async function* predictMany(
  predictOne: PredictOne,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  options: unknown,
): AsyncIterableIterator<PredictManyResult> {
  const { ordered, concurrency, idempotencyKeyPrefix, ...shared } = parseOrThrow(
    PredictManyOptionsSchema,
    options ?? {},
    'predictMany options',
  );
  const source: AsyncIterator<unknown> | Iterator<unknown> =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();

  const finished = new Map<number, PredictManyResult>();
  let inFlight = 0;
  let started = 0;
  let nextToYield = 0;
  let exhausted = false;
  let wake: (() => void) | undefined;

  const run = async (index: number, inputs: unknown): Promise<void> => {
    const own: PredictOptions = { ...shared };
    if (idempotencyKeyPrefix !== undefined) own.idempotencyKey = `${idempotencyKeyPrefix}.${index}`;
    let result: PredictManyResult;
    try {
      result = { index, ok: true, prediction: await predictOne(inputs, own) };
    } catch (error) {
      result = { index, ok: false, error: toConveyorError(error) };
    }
    finished.set(index, result);
    const resume = wake;
    wake = undefined;
    resume?.();
  };

  try {
    for (;;) {
      while (!exhausted && inFlight < concurrency) {
        const next = await source.next();
        if (next.done === true) {
          exhausted = true;
          break;
        }
        inFlight += 1;
        void run(started++, next.value);
      }
      const ready: PredictManyResult[] = [];
      if (ordered) {
        for (let r = finished.get(nextToYield); r; r = finished.get(nextToYield)) {
          finished.delete(nextToYield++);
          ready.push(r);
        }
      } else {
        ready.push(...finished.values());
        finished.clear();
      }
      for (const result of ready) {
        inFlight -= 1;
        if (!result.ok && result.error.code === 'ERR_CLOSED') throw result.error;
        yield result;
      }
      if (ready.length > 0) continue;
      if (exhausted && inFlight === 0) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!exhausted) await source.return?.();
  }
}
