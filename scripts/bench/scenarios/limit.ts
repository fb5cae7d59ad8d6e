/** Scenario 1, the limit: onnxruntime-node in the benchmark's own process, no queue. */
import { openSession, type ModelSession } from '@conveyor/engine';
import { SessionConfigSchema } from '@conveyor/shared';
import type { BenchContext } from '../context.js';
import { percentile, round, say, timed } from '../lib.js';
import type { BenchResults, LimitResult } from '../results.js';
import { WORKLOADS, WORKLOAD_NAMES, batchOf, modelPathOf, type Workload } from '../workloads.js';

const SIZES = [1, 4, 16, 32, 64];

/**
 * Each size is timed in ROUNDS turns of a third of `limitSeconds`, the sizes in turn, and keeps its
 * fastest turn: a busy moment of a shared host only ever slows a turn down, and timing each size
 * in one stretch let such a moment decide which size was best (the image model's best varied from
 * 1,298 to 1,755 rows/s between runs).
 */
const ROUNDS = 3;

/** Rows per second of `size`-row calls over `seconds`. */
export async function rowsPerSecond(
  session: ModelSession,
  workload: Workload,
  size: number,
  seconds: number,
) {
  const { input, output } = WORKLOADS[workload];
  const tensor = batchOf(workload, size);
  let calls = 0;
  const { ms } = await timed(async () => {
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      await session.run({ [input]: tensor }, [output]);
      calls += 1;
    }
  });
  return (calls * size * 1000) / ms;
}

async function limit(ctx: BenchContext, workload: Workload, session: ModelSession) {
  const { input, output } = WORKLOADS[workload];
  const bySize: Record<number, number> = {};
  for (const size of SIZES) await session.run({ [input]: batchOf(workload, size) }, [output]);
  for (let round = 0; round < ROUNDS; round++)
    for (const size of SIZES) {
      const rate = await rowsPerSecond(session, workload, size, ctx.counts.limitSeconds / ROUNDS);
      bySize[size] = Math.max(bySize[size] ?? 0, rate);
    }
  const latencies: number[] = [];
  const one = batchOf(workload, 1);
  for (let i = 0; i < ctx.counts.latencySamples; i++) {
    const t0 = performance.now();
    await session.run({ [input]: one }, [output]);
    latencies.push(performance.now() - t0);
  }
  const best = Object.entries(bySize).reduce((a, b) => (b[1] > a[1] ? b : a));
  return {
    rowsPerSecondBySize: Object.fromEntries(
      Object.entries(bySize).map(([k, v]) => [k, round(v, 0)]),
    ),
    batch1RowsPerSecond: round(bySize[1] ?? 0, 0),
    bestBatch: Number(best[0]),
    bestRowsPerSecond: round(best[1], 0),
    p50Ms: round(percentile(latencies, 50), 3),
    p99Ms: round(percentile(latencies, 99), 3),
  };
}

/** A session of a workload's model as scenario 1 opens it: onnxruntime's defaults. */
export function openLimitSession(workload: Workload): Promise<ModelSession> {
  return openSession(modelPathOf(workload), SessionConfigSchema.parse({}));
}

export async function runLimit(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n1. the limit: onnxruntime-node in-process, no queue');
  const limits: Record<string, LimitResult> = {};
  for (const workload of WORKLOAD_NAMES) {
    const session = await openLimitSession(workload);
    try {
      limits[workload] = await limit(ctx, workload, session);
    } finally {
      await session.release();
    }
    say(`   ${workload}: ${JSON.stringify(limits[workload])}`);
  }
  results.limit = limits;
}
