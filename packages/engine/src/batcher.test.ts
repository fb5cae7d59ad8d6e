import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConveyorError, createTensor, silentLogger, type Tensor } from '@conveyor/shared';
import { concatRows, sliceRows } from './batch-rows.js';
import { createBatcher, type BatcherOptions, type RunFn } from './batcher.js';

/** Ms of one call of `rows` rows: rows per second peak at 4 rows a call. */
const cost = (rows: number) => 1.6 + 0.1 * rows ** 2;

/**
 * A fake model on a fake clock: `y` is `x` doubled, and each call advances the clock by its cost,
 * so the batcher measures exactly the cost model. Rows whose value is negative fail the call.
 */
function fakeModel() {
  const clock = { ms: 0 };
  const calls: number[] = [];
  const run: RunFn = async (inputs) => {
    await Promise.resolve();
    const x = inputs.x as Tensor<'float32'>;
    const rows = x.shape[0] ?? 1;
    calls.push(rows);
    clock.ms += cost(rows);
    if (x.data.some((v) => v < 0)) throw new ConveyorError('ERR_INFERENCE_FAILED', 'negative');
    const y = createTensor(
      'float32',
      x.shape,
      x.data.map((v) => v * 2),
    );
    return { outputs: { y }, ms: cost(rows) };
  };
  return { clock, calls, run };
}

/** A request of `rows` rows of 2 features, numbered from `first`. */
const request = (first: number, rows: number) => ({
  x: createTensor(
    'float32',
    [rows, 2],
    Float32Array.from({ length: rows * 2 }, (_, i) => first + i),
  ),
});

function batcherOn(
  model: ReturnType<typeof fakeModel>,
  maxBatchSize: number,
  adaptive: boolean,
  more: Partial<BatcherOptions> = {},
) {
  return createBatcher({
    maxBatchSize,
    maxDelayMs: 0,
    adaptive,
    slots: 1,
    batchable: true,
    run: model.run,
    log: silentLogger(),
    now: () => model.clock.ms,
    ...more,
  });
}

describe('batcher', () => {
  it('splits a request larger than the cap into calls of the cap and joins their outputs', async () => {
    const model = fakeModel();
    const batcher = batcherOn(model, 32, false);
    const outcome = await batcher.submit(request(0, 500), ['y'], false);
    expect(model.calls).toEqual([...Array<number>(15).fill(32), 20]);
    expect(outcome.outputs.y?.shape).toEqual([500, 2]);
    expect(Array.from(outcome.outputs.y?.data as Float32Array)).toEqual(
      Array.from({ length: 1_000 }, (_, i) => i * 2),
    );
    expect(outcome).toMatchObject({ batchRows: 32, batchRequests: 1 });
    expect(outcome.ms).toBeCloseTo(15 * cost(32) + cost(20), 6);
  });

  it('fills a call with the tail of a split request and the requests after it', async () => {
    const model = fakeModel();
    const batcher = batcherOn(model, 8, false);
    const first = batcher.submit(request(0, 1), ['y'], false);
    const [big, small] = await Promise.all([
      batcher.submit(request(100, 13), ['y'], false),
      batcher.submit(request(500, 2), ['y'], false),
      first,
    ]);
    // The first request runs alone; then 8 rows of the big one; then its last 5 with the small one.
    expect(model.calls).toEqual([1, 8, 7]);
    expect(Array.from(big.outputs.y?.data as Float32Array)).toEqual(
      Array.from({ length: 26 }, (_, i) => (100 + i) * 2),
    );
    expect(Array.from(small.outputs.y?.data as Float32Array)).toEqual([1000, 1002, 1004, 1006]);
  });

  it('lets requests that arrive during a large one take turns with its slices', async () => {
    const model = fakeModel();
    const batcher = batcherOn(model, 8, false);
    let bigDone = false;
    const big = batcher.submit(request(0, 100), ['y'], false).then((outcome) => {
      bigDone = true;
      return outcome;
    });
    const small = await Promise.all(
      [1, 2, 3].map((i) => batcher.submit(request(i * 1_000, 1), ['y'], false)),
    );
    expect(bigDone).toBe(false);
    // One slice of the large request ran before they arrived, one more while they queued; then
    // they share a call with the next slice.
    expect(model.calls.slice(0, 3)).toEqual([8, 8, 8]);
    for (const outcome of small) expect(outcome).toMatchObject({ batchRows: 8, batchRequests: 4 });
    const outcome = await big;
    expect(model.calls.reduce((n, rows) => n + rows, 0)).toBe(103);
    expect(Array.from(outcome.outputs.y?.data as Float32Array)).toEqual(
      Array.from({ length: 200 }, (_, i) => i * 2),
    );
  });

  it('learns to join 4 rows a call when larger calls deliver fewer rows per second', async () => {
    const model = fakeModel();
    const batcher = batcherOn(model, 32, true);
    const outcomes = await Promise.all(
      Array.from({ length: 600 }, (_, i) => batcher.submit(request(i * 2, 1), ['y'], false)),
    );
    outcomes.forEach((outcome, i) =>
      expect(Array.from(outcome.outputs.y?.data as Float32Array)).toEqual([i * 4, i * 4 + 2]),
    );
    const stats = batcher.stats();
    expect(stats.bestSize).toBe(4);
    expect(stats.perSize.map((s) => s.size)).toContain(32);
    const rates = new Map(stats.perSize.map((s) => [s.size, s.rowsPerSecond]));
    for (const [size, rate] of rates) if (size !== 4) expect(rate).toBeLessThan(rates.get(4)!);
    expect(model.calls.slice(-50).filter((rows) => rows === 4).length).toBeGreaterThan(40);
  });

  it('keeps calls short enough for the deadline of the rows they take', async () => {
    const model = fakeModel();
    const batcher = batcherOn(model, 32, true);
    const burst = (count: number, budgetMs?: number) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          batcher.submit(request(i, 1), ['y'], false, { budgetMs }),
        ),
      );
    await burst(600);
    expect(batcher.stats().bestSize).toBe(4);
    model.calls.length = 0;
    await burst(40);
    expect(Math.max(...model.calls)).toBe(4);
    // Calls of 2 rows take 2 ms and of 4 rows 3.2 ms (by the fake cost): 2.5 ms allow only 2.
    model.calls.length = 0;
    const outcomes = await burst(40, 2.5);
    expect(outcomes).toHaveLength(40);
    expect(Math.max(...model.calls)).toBeLessThanOrEqual(2);
  });

  it('fails a split request once when one of its calls fails, and runs the others', async () => {
    const model = fakeModel();
    const batcher = batcherOn(model, 4, false);
    const bad = request(0, 10);
    bad.x.data[15] = -1;
    const [failed, good] = await Promise.allSettled([
      batcher.submit(bad, ['y'], false),
      batcher.submit(request(50, 3), ['y'], false),
    ]);
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: 'ERR_INFERENCE_FAILED' } });
    expect(good.status).toBe('fulfilled');
    expect(batcher.pending).toBe(0);
  });

  it('hands a lone large request over a few calls at a time, as many as fit handoffMs', async () => {
    const model = fakeModel();
    const handoffs: number[] = [];
    // An inference thread that takes chunkRows: consecutive calls of the fake model, joined.
    const run: RunFn = async (inputs, outputs, transfer, pieces, chunkRows) => {
      const x = inputs.x as Tensor;
      const rows = x.shape[0] ?? 1;
      handoffs.push(rows);
      const size = chunkRows ?? rows;
      const parts: Tensor[] = [];
      let ms = 0;
      for (let from = 0; from < rows; from += size) {
        const part = { x: sliceRows(x, from, Math.min(size, rows - from)) };
        const result = await model.run(part, outputs, transfer, pieces);
        parts.push(result.outputs.y as Tensor);
        ms += result.ms;
      }
      return { outputs: { y: concatRows(parts) }, ms, calls: parts.length };
    };
    const batcher = createBatcher({
      maxBatchSize: 8,
      maxDelayMs: 0,
      adaptive: false,
      slots: 1,
      batchable: true,
      chunkable: true,
      handoffMs: 20,
      run,
      log: silentLogger(),
      now: () => model.clock.ms,
    });
    const outcome = await batcher.submit(request(0, 80), ['y'], false);
    // One call a hand-off until a call of 8 rows is measured (the first of a size is not), then
    // as many as fit 20 ms at 8 ms a call.
    expect(handoffs).toEqual([8, 8, 16, 16, 16, 16]);
    expect(model.calls).toEqual(Array<number>(10).fill(8));
    expect(Array.from(outcome.outputs.y?.data as Float32Array)).toEqual(
      Array.from({ length: 160 }, (_, i) => i * 2),
    );
    expect(outcome).toMatchObject({ batchRows: 8, batchRequests: 1 });
    expect(outcome.ms).toBeCloseTo(10 * cost(8), 6);
    expect(batcher.stats()).toMatchObject({ handoffs: 6, runs: 10 });
    // Measured per call: ten calls of 8 rows, the first not counted.
    expect(batcher.stats().perSize).toEqual([
      expect.objectContaining({ size: 8, meanMs: cost(8), calls: 6 }),
    ]);
    // With another request waiting, a hand-off carries one call, as before: a slice, then the
    // small request joined with the next slice; alone again, two calls; then the tail.
    handoffs.length = 0;
    const [, small] = await Promise.all([
      batcher.submit(request(0, 32), ['y'], false),
      batcher.submit(request(0, 1), ['y'], false),
    ]);
    expect(handoffs).toEqual([8, 8, 16, 1]);
    expect(small).toMatchObject({ batchRows: 8, batchRequests: 2 });
  });

  describe('with maxDelayMs', () => {
    afterEach(() => vi.useRealTimers());

    /** A batcher that waits up to 50 ms for others, on the fake timers' clock. */
    const windowed = (model: ReturnType<typeof fakeModel>) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      return createBatcher({
        maxBatchSize: 32,
        maxDelayMs: 50,
        adaptive: false,
        slots: 1,
        batchable: true,
        run: model.run,
        log: silentLogger(),
        now: () => Date.now(),
      });
    };
    /** The time a serial client's next request takes to come back: a turn of the event loop. */
    const roundTrip = () => new Promise((resolve) => setImmediate(resolve));

    it('runs requests of serial traffic at once instead of waiting out the window', async () => {
      const model = fakeModel();
      const batcher = windowed(model);
      // The first request cannot know the traffic yet: it waits for others to join it.
      const first = batcher.submit(request(0, 1), ['y'], false);
      await vi.advanceTimersByTimeAsync(50);
      await first;
      // Each next one finds nothing running or waiting, as did the one before: no timer at all.
      for (let i = 1; i <= 3; i++) {
        await roundTrip();
        await expect(batcher.submit(request(i, 1), ['y'], false)).resolves.toMatchObject({
          batchRows: 1,
        });
      }
      expect(model.calls).toEqual([1, 1, 1, 1]);
    });

    it('still waits the window for requests that arrive while others are in the batcher', async () => {
      const model = fakeModel();
      const batcher = windowed(model);
      const first = batcher.submit(request(0, 1), ['y'], false);
      await vi.advanceTimersByTimeAsync(50);
      await first;
      await roundTrip();
      await batcher.submit(request(1, 1), ['y'], false);
      await roundTrip();
      // A burst after serial traffic: its first request runs at once, the others join in one call.
      const burst = [2, 3, 4].map((i) => batcher.submit(request(i, 1), ['y'], false));
      await vi.advanceTimersByTimeAsync(50);
      const outcomes = await Promise.all(burst);
      expect(model.calls).toEqual([1, 1, 1, 2]);
      expect(outcomes.map((o) => o.batchRequests)).toEqual([1, 2, 2]);
    });
  });

  it('with gatherTurn, takes a first request at the end of its turn, so the turn shares its call', async () => {
    const model = fakeModel();
    const batcher = batcherOn(model, 8, false, { gatherTurn: true });
    // Microtasks only: what runs within this turn, before its end (setImmediate).
    const withinTurn = async () => {
      for (let i = 0; i < 10; i++) await Promise.resolve();
    };
    // Four requests in one turn (a worker's next jobs, fetched together): one call, not 1 + 3.
    const turn = [0, 1, 2, 3].map((i) => batcher.submit(request(i * 10, 1), ['y'], false));
    await withinTurn();
    expect(model.calls).toEqual([]);
    const outcomes = await Promise.all(turn);
    expect(model.calls).toEqual([4]);
    expect(outcomes.map((o) => o.batchRequests)).toEqual([4, 4, 4, 4]);
    expect(Array.from(outcomes[3]?.outputs.y?.data as Float32Array)).toEqual([60, 62]);
    // Serial traffic (each request alone, after one that was alone too) runs at once.
    await batcher.submit(request(100, 1), ['y'], false);
    const serial = batcher.submit(request(200, 1), ['y'], false);
    await withinTurn();
    expect(model.calls).toEqual([4, 1, 1]);
    await serial;
  });

  it('queues a full call at a busy thread, and nothing less', async () => {
    // Calls that end when the test says: each call's rows, and how to end it.
    const calls: { rows: number; end: () => void }[] = [];
    const run: RunFn = (inputs) => {
      const x = inputs.x as Tensor<'float32'>;
      return new Promise((resolve) =>
        calls.push({ rows: x.shape[0] ?? 1, end: () => resolve({ outputs: { y: x }, ms: 1 }) }),
      );
    };
    const batcher = createBatcher({
      maxBatchSize: 4,
      maxDelayMs: 0,
      adaptive: false,
      slots: 1,
      queued: 1,
      batchable: true,
      run,
      log: silentLogger(),
    });
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    const submit = (first: number) => batcher.submit(request(first, 1), ['y'], false);
    const done = [submit(0)];
    for (let i = 1; i <= 3; i++) done.push(submit(i));
    await settle();
    // One call runs; three rows are not a full call, so none is queued behind it.
    expect(calls.map((c) => c.rows)).toEqual([1]);
    done.push(submit(4), submit(5));
    await settle();
    // Four rows make a full call: it waits at the busy thread; the sixth row waits here.
    expect(calls.map((c) => c.rows)).toEqual([1, 4]);
    calls[0]?.end();
    await settle();
    // The queued call now runs, and one row is no full call to queue behind it.
    expect(calls.map((c) => c.rows)).toEqual([1, 4]);
    calls[1]?.end();
    await settle();
    expect(calls.map((c) => c.rows)).toEqual([1, 4, 1]);
    calls[2]?.end();
    const outcomes = await Promise.all(done);
    expect(outcomes.map((o) => o.batchRows)).toEqual([1, 4, 4, 4, 4, 1]);
  });
});
