import { describe, expect, it } from 'vitest';
import type { Tensor } from '@conveyor/shared';
import type { Prediction } from './client.js';
import { predictMany } from './predict-many.js';
import { FIRST_PACK_ROWS, MAX_PACK_BYTES } from './row-pack-sizer.js';

/** A predict that doubles `x` and takes 0.001 ms a row, counting the jobs it is given. */
function doubling() {
  const jobs: number[] = [];
  const predictOne = (inputs: unknown): Promise<Prediction> => {
    const x = (inputs as { x: { data: Float32Array; shape: number[] } }).x;
    const rows = x.shape[0] ?? 0;
    jobs.push(rows);
    const y: Tensor = { dtype: 'float32', shape: [rows, 4], data: x.data.map((v) => v * 2) };
    return Promise.resolve({
      jobId: `job-${jobs.length}`,
      model: 'm',
      version: '1',
      outputs: { y },
      timings: { queuedMs: 0, inferenceMs: rows / 1000, runMs: rows / 1000, batchRows: rows },
    });
  };
  return { jobs, predictOne };
}

const block = (rows: number, first: number) => ({
  x: { data: Float32Array.from({ length: rows * 4 }, (_, i) => first + i), shape: [rows, 4] },
});

describe('predictMany over items of many rows', () => {
  it('learns the pack size from items larger than the first pack, and packs them', async () => {
    const { jobs, predictOne } = doubling();
    const rows = FIRST_PACK_ROWS * 4;
    const items = Array.from({ length: 64 }, (_, i) => block(rows, i * rows * 4));
    const results = [];
    for await (const result of predictMany(predictOne, items, { concurrency: 1 })) {
      results.push(result);
    }
    expect(results.map((r) => r.index)).toEqual(items.map((_, i) => i));
    expect(jobs[0]).toBe(rows);
    expect(Math.max(...jobs)).toBeGreaterThan(rows);
    expect(jobs.length).toBeLessThan(items.length);
    const last = results.at(-1);
    const y = last?.ok ? (last.prediction.outputs.y?.data as Float32Array) : undefined;
    expect(Array.from(y ?? []).slice(0, 2)).toEqual([63 * rows * 8, (63 * rows * 4 + 1) * 2]);
  });

  it('fills a pack with large items only up to its byte limit', async () => {
    const { jobs, predictOne } = doubling();
    // One row of 1 MiB each: the first pack would otherwise hold FIRST_PACK_ROWS of them.
    const floats = 256 * 1024;
    const items = Array.from({ length: 10 }, () => ({
      x: { data: new Float32Array(floats), shape: [1, floats] },
    }));
    let ok = 0;
    for await (const result of predictMany(predictOne, items, { concurrency: 1 })) {
      if (result.ok) ok += 1;
    }
    expect(ok).toBe(items.length);
    expect(jobs).toEqual([4, 4, 2]);
    expect(MAX_PACK_BYTES / (floats * 4)).toBe(4);
  });
});
