import { describe, expect, it } from 'vitest';
import { FIRST_PACK_ROWS, MAX_PACK_ROWS, type BulkItem, type ModelInfo } from '@conveyor/sdk';
import { formatEntry, itemPrediction, parseEntry } from './batches-entries.js';
import { entriesOf, mayPack, planUnits, unpackUnit } from './batches-pack.js';
import { createPackSizes } from './batches-sizes.js';

const row = (v: number): BulkItem => ({ inputs: { x: [[v, v]] } });
const limits = { rows: 4, bytes: 1024 };

describe('planUnits', () => {
  it('packs consecutive items of one layout, up to the row limit, keyed items alone', () => {
    const items = [row(0), row(1), { ...row(2), idempotencyKey: 'k' }, row(3), row(4)];
    items.push({ inputs: { x: [[5, 5, 5]] } }, row(6), row(7), row(8), row(9), row(10));
    const units = planUnits(items, true, limits);
    expect(units.map((u) => [u.first, u.rows ?? null])).toEqual([
      [0, [1, 1]],
      [2, null],
      [3, [1, 1]],
      [5, null],
      [6, [1, 1, 1, 1]],
      [10, null],
    ]);
    expect(units[0]?.job.inputs).toEqual({
      x: [
        [0, 0],
        [1, 1],
      ],
    });
    const entries = entriesOf(units, ['a', 'b', 'c', 'd', 'e', 'f']);
    expect(entries.map(formatEntry)).toEqual([
      'a#0#1',
      'a#1#1',
      'b',
      'c#0#1',
      'c#1#1',
      'd',
      'e#0#1',
      'e#1#1',
      'e#2#1',
      'e#3#1',
      'f',
    ]);
    expect(unpackUnit(units[4]!).map((u) => u.first)).toEqual([6, 7, 8, 9]);
  });

  it('keeps a job per item without packing, and within the byte limit', () => {
    expect(planUnits([row(0), row(1)], false, limits).every((u) => u.rows === undefined)).toBe(
      true,
    );
    expect(planUnits([row(0), row(1)], true, { rows: 4, bytes: 20 })).toHaveLength(2);
  });
});

describe('entries', () => {
  it('parses both forms, bare ids as items with a job of their own', () => {
    expect(parseEntry('iris.1.abc')).toEqual({ jobId: 'iris.1.abc' });
    expect(parseEntry('iris.1.abc#3#2')).toEqual({
      jobId: 'iris.1.abc',
      rows: { start: 3, count: 2 },
    });
  });

  it("gives an item its own rows of a packed job's outputs", () => {
    const prediction = {
      jobId: 'j',
      model: 'm',
      version: '1',
      outputs: {
        y: { dtype: 'float32' as const, shape: [4, 2], data: new Float32Array(8).map((_, i) => i) },
      },
      timings: { queuedMs: 0, inferenceMs: 1 },
    };
    const own = itemPrediction(prediction, { jobId: 'j', rows: { start: 1, count: 2 } });
    expect(own?.outputs.y?.shape).toEqual([2, 2]);
    expect([...(own?.outputs.y?.data as Float32Array)]).toEqual([2, 3, 4, 5]);
    expect(
      itemPrediction(prediction, { jobId: 'j', rows: { start: 3, count: 2 } }),
    ).toBeUndefined();
  });
});

describe('mayPack', () => {
  const info = (first: number): ModelInfo => ({
    name: 'm',
    version: '1',
    inputs: [{ name: 'x', dtype: 'float32', shape: [first, 2] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
    workers: 1,
    state: 'ready',
  });
  it('packs only when every tensor of every version has a free first dimension', () => {
    expect(mayPack([info(-1)], 'm')).toBe(true);
    expect(mayPack([info(-1), info(1)], 'm')).toBe(false);
    expect(mayPack([info(-1)], 'other')).toBe(false);
  });
});

describe('createPackSizes', () => {
  const timings = (runMs: number | undefined, batchRows: number | undefined, inferenceMs = 0) => ({
    queuedMs: 0,
    inferenceMs,
    runMs,
    batchRows,
  });
  const settle = (sizes: ReturnType<typeof createPackSizes>, model: string, msPerRow: number) => {
    for (let i = 0; i < 10; i++) {
      const rows = sizes.rows(model);
      sizes.observe(model, timings(msPerRow * rows, rows), rows);
    }
  };

  it('starts each model at FIRST_PACK_ROWS and moves it toward the SDK target time per job', () => {
    const sizes = createPackSizes();
    expect(sizes.rows('m')).toBe(FIRST_PACK_ROWS);
    // 0.04 ms per row: 50 ms (TARGET_PACK_MS) is 1250 rows, reached by steps of at most 4x.
    sizes.observe('m', timings(4, 100), 100);
    expect(sizes.rows('m')).toBe(FIRST_PACK_ROWS * 4);
    settle(sizes, 'm', 0.04);
    expect(sizes.rows('m')).toBe(1250);
    expect(sizes.rows('other')).toBe(FIRST_PACK_ROWS);
  });

  it('packs a model slower than the target per row one row a job, a free one up to the cap', () => {
    const sizes = createPackSizes();
    settle(sizes, 'slow', 100);
    expect(sizes.rows('slow')).toBe(1);
    sizes.observe('fast', timings(undefined, undefined, 0), 10);
    settle(sizes, 'fast', 0);
    expect(sizes.rows('fast')).toBe(MAX_PACK_ROWS);
  });
});
