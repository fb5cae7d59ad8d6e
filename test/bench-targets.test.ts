import { describe, expect, it } from 'vitest';
import { targetRows } from '../scripts/bench/report.js';
import type { BenchResults, CpuProfile } from '../scripts/bench/results.js';

/** Scenario 1's in-process rate of the image (rows/s by batch size) and scenario 3's run. */
function imageRun(rowsPerSecondAt4: number): BenchResults {
  return {
    limit: {
      'text-direction': {
        rowsPerSecondBySize: { '1': 500, '4': rowsPerSecondAt4 },
        batch1RowsPerSecond: 500,
        bestBatch: 4,
        bestRowsPerSecond: rowsPerSecondAt4,
        p50Ms: 2,
        p99Ms: 3,
      },
    },
    endToEnd: {
      'text-direction': {
        jobs: 3000,
        jobsPerSecond: 900,
        failed: 0,
        meanBatchRows: 4,
        seconds: 3.33,
        // 2.5 CPU s for worker and Redis together.
        cpuSeconds: { driver: 0.5, worker: 2, redis: 0.5 },
      },
    },
  };
}

const share = (results: BenchResults) =>
  targetRows(results).find((row) => row.id === 'image-inference-share');

describe('the image inference share target', () => {
  it('estimates from scenario 1 when not profiled', () => {
    // 3,000 rows at 2,000 rows/s: 1.5 s of inference over 2.5 CPU s.
    const row = share(imageRun(2000));
    expect(row?.value).toMatch(/^0\.600 \(estimated: 3000 rows × 0\.500 ms/);
    expect(row?.met).toBe(false);
  });

  it('gives no figure when the estimate is above 1 (scenario 1 ran at another host speed)', () => {
    // 3,000 rows at 1,000 rows/s: 3 s of inference over 2.5 CPU s measured, impossible.
    const row = share(imageRun(1000));
    expect(row?.met).toBeNull();
  });

  it("reads onnxruntime's CPU from a profile when there is one", () => {
    const worker: CpuProfile = {
      hz: 999,
      units: 3000,
      samples: 4000,
      usPerUnit: { onnxruntime: 800, conveyor: 50, node: 150 },
    };
    const row = share({ ...imageRun(1000), profiles: { image: { worker, redisUsPerJob: 200 } } });
    // 800 µs of 1,000 (worker) + 200 (Redis).
    expect(row?.value).toMatch(/^0\.667 \(measured by perf: onnxruntime 800\.0 µs per job/);
    expect(row?.met).toBe(false);
  });
});
