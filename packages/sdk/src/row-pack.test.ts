import { describe, expect, it } from 'vitest';
import { createTensor, toNumbers } from '@conveyor/shared';
import { inputBytes, packIdempotencyKey, packInputs, rowLayout, splitOutputs } from './row-pack.js';
import { MAX_PACK_ROWS, TARGET_PACK_MS, createPackSizer } from './row-pack-sizer.js';

describe('rowLayout', () => {
  it('counts the rows of feature rows, nested arrays and shaped typed arrays', () => {
    expect(rowLayout({ a: 1, b: 2 })).toEqual({ key: 'f:a,b', rows: 1 });
    expect(rowLayout([{ a: 1 }, { a: 2 }])).toEqual({ key: 'f:a', rows: 2 });
    expect(rowLayout({ x: [[1, 2, 3]] })?.rows).toBe(1);
    expect(rowLayout({ x: { data: new Float32Array(6), shape: [2, 3] } })?.rows).toBe(2);
    expect(rowLayout({ x: { data: [[1], [2]], dtype: 'int64' } })?.rows).toBe(2);
  });

  it('gives inputs of another width, dtype or name another key', () => {
    const key = (v: unknown) => rowLayout(v)?.key;
    expect(key({ x: [[1, 2]] })).not.toBe(key({ x: [[1, 2, 3]] }));
    expect(key({ x: [[1, 2]] })).not.toBe(key({ y: [[1, 2]] }));
    const typed = (data: Float32Array | Int32Array) => key({ x: { data, shape: [1, 2] } });
    expect(typed(new Float32Array(2))).not.toBe(typed(new Int32Array(2)));
    expect(key({ a: 1, b: 2 })).not.toBe(key({ a: 1, c: 2 }));
  });

  it('refuses bare values, unshaped typed arrays, empty items and disagreeing row counts', () => {
    expect(rowLayout({ x: 3, y: [[1]] })).toBeUndefined();
    expect(rowLayout({ x: { data: new Float32Array(4) } })).toBeUndefined();
    expect(rowLayout({ x: [] })).toBeUndefined();
    expect(rowLayout({ x: [[1]], y: [[1], [2]] })).toBeUndefined();
    expect(rowLayout([1, 2, 3])).toBeUndefined();
    expect(rowLayout('text')).toBeUndefined();
    expect(rowLayout({})).toBeUndefined();
  });
});

describe('inputBytes', () => {
  it('counts typed arrays by their bytes and other values at 8 bytes each', () => {
    expect(inputBytes({ x: { data: new Float32Array(6), shape: [2, 3] } })).toBe(24);
    expect(inputBytes({ x: [[1, 2, 3]], y: [[1, 2]] })).toBe(40);
    expect(
      inputBytes([
        { a: 1, b: 2 },
        { a: 3, b: 4 },
      ]),
    ).toBe(32);
    expect(inputBytes({ a: 1, b: 2 })).toBe(16);
    expect(inputBytes({ text: { data: ['abc', 'de'], shape: [2], dtype: 'string' } })).toBe(6);
    expect(inputBytes({ x: [[[new Uint8Array(5)]], [[new Uint8Array(5)]]] })).toBe(10);
  });

  it('ends on a cycle', () => {
    const cycle: unknown[] = [];
    cycle.push(cycle);
    expect(inputBytes({ x: cycle })).toBe(0);
  });
});

describe('packInputs', () => {
  it('concatenates nested arrays and feature rows along the first dimension', () => {
    expect(
      packInputs(
        [
          { x: [[1, 2]] },
          {
            x: [
              [3, 4],
              [5, 6],
            ],
          },
        ],
        3,
      ),
    ).toEqual({
      x: [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    });
    expect(packInputs([{ a: 1 }, [{ a: 2 }, { a: 3 }]], 3)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('concatenates typed arrays into one of the same kind with the summed shape', () => {
    const packed = packInputs(
      [
        { x: { data: Int32Array.of(1, 2), shape: [1, 2], dtype: 'int32' } },
        { x: { data: Int32Array.of(3, 4, 5, 6), shape: [2, 2], dtype: 'int32' } },
      ],
      3,
    ) as { x: { data: Int32Array; shape: number[]; dtype: string } };
    expect(packed.x.data).toBeInstanceOf(Int32Array);
    expect([...packed.x.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(packed.x.shape).toEqual([3, 2]);
    expect(packed.x.dtype).toBe('int32');
  });
});

describe('splitOutputs', () => {
  const probabilities = createTensor('float32', [3, 2], Float32Array.of(1, 2, 3, 4, 5, 6));
  const labels = createTensor('string', [3], ['a', 'b', 'c']);

  it('gives each item its own rows of every output', () => {
    const split = splitOutputs({ probabilities, labels }, [1, 2]);
    expect(split).toHaveLength(2);
    expect(split?.[0]?.probabilities?.shape).toEqual([1, 2]);
    expect(toNumbers(split?.[1]?.probabilities ?? probabilities)).toEqual([3, 4, 5, 6]);
    expect(split?.[1]?.labels?.data).toEqual(['b', 'c']);
  });

  it('refuses outputs that do not have the rows of the pack', () => {
    expect(splitOutputs({ probabilities }, [1, 1])).toBeUndefined();
    const scalar = createTensor('float32', [], Float32Array.of(1));
    expect(splitOutputs({ scalar }, [1])).toBeUndefined();
  });
});

describe('packIdempotencyKey', () => {
  it('names the first item and the count, apart from any single item key', () => {
    expect(packIdempotencyKey('run', 256, 256)).toBe('run.256-256');
    expect(packIdempotencyKey('run', 0, 1)).not.toBe('run.0');
  });
});

describe('createPackSizer', () => {
  const timings = (runMs: number, batchRows: number) => ({
    queuedMs: 0,
    inferenceMs: runMs,
    runMs,
    batchRows,
  });

  it('grows toward the target time for a fast model, by steps, up to the cap', () => {
    const sizer = createPackSizer();
    const first = sizer.rows;
    sizer.observe(timings(0.01, first), first);
    expect(sizer.rows).toBe(first * 4);
    for (let i = 0; i < 10; i++) sizer.observe(timings(0.01, sizer.rows), sizer.rows);
    expect(sizer.rows).toBe(MAX_PACK_ROWS);
  });

  it('shrinks for a slow model to about the target time per pack', () => {
    const sizer = createPackSizer();
    for (let i = 0; i < 20; i++) sizer.observe(timings(sizer.rows * 2, sizer.rows), sizer.rows);
    expect(sizer.rows).toBe(TARGET_PACK_MS / 2);
  });

  it('sizes from the fastest recent pack, not from packs a busy host slowed down', () => {
    const sizer = createPackSizer();
    sizer.observe(timings(0.1, 100), sizer.rows);
    const settled = sizer.rows;
    for (let i = 0; i < 3; i++) sizer.observe(timings(100, 100), sizer.rows);
    expect(sizer.rows).toBeGreaterThanOrEqual(settled);
  });

  it('keeps a fixed size whatever it observes, and halves on shrink', () => {
    const sizer = createPackSizer(256);
    sizer.observe(timings(0.001, 256), 256);
    expect(sizer.rows).toBe(256);
    sizer.shrink();
    expect(sizer.rows).toBe(128);
  });
});
