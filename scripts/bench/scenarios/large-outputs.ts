/**
 * Scenario 11, large outputs: N recogniser jobs (1.06 MB of float32 output each) through the
 * queue and retained, then Redis `used_memory` growth per job over the raw output bytes of one
 * result. Then a run of many more jobs through a worker with a byte budget for stored results
 * (RESULT_BUDGET_BYTES), far smaller than their outputs together, with Redis `used_memory`
 * sampled throughout: whether Redis stays under the budget. At most 16 jobs in flight; Redis is
 * flushed after each.
 */
import { createTensor, queueKey, queueName, type Tensor } from '@conveyor/shared';
import type { ConveyorClient } from '@conveyor/sdk';
import { Redis } from 'ioredis';
import type { BenchContext } from '../context.js';
import { redisInfo, usedMemory } from '../cpu.js';
import { round, say } from '../lib.js';
import type { BenchResults, BudgetRunResult } from '../results.js';

const MODEL = 'text-recognition';
const IN_FLIGHT = 16;
const ROW_SHAPE = [3, 48, 320];
/** How often the budget run reads Redis's memory. */
const SAMPLE_MS = 50;

export async function runLargeOutputs(ctx: BenchContext, results: BenchResults): Promise<void> {
  const jobs = ctx.counts.recogniserJobs;
  say(`\n11. large outputs: ${jobs} recogniser results retained in Redis`);
  const row = new Float32Array(ROW_SHAPE.reduce((n, d) => n * d, 1));
  for (let i = 0; i < row.length; i++) row[i] = ((i * 7919) % 255) / 127.5 - 1;
  const inputs = { x: createTensor('float32', [1, ...ROW_SHAPE], row) };
  const r = await flushedAfter(ctx, () =>
    ctx.withWorkers([MODEL], 1, {}, async (client) => {
      const rawOutputBytes = await firstOutputBytes(client, inputs);
      const before = (await redisInfo(ctx.redis.url)).usedMemory;
      await drive(client, inputs, jobs);
      return { rawOutputBytes, before, after: (await redisInfo(ctx.redis.url)).usedMemory };
    }),
  );
  const delta = r.after - r.before;
  results.largeOutputs = {
    jobs,
    // A run in which any job failed throws (see drive).
    failed: 0,
    rawOutputBytes: r.rawOutputBytes,
    usedMemoryDeltaBytes: delta,
    bytesPerResult: round(delta / jobs, 0),
    ratio: round(delta / jobs / r.rawOutputBytes, 3),
  };
  say(`   ${JSON.stringify(results.largeOutputs)}`);
  const { budgetJobs, resultBudgetBytes } = ctx.counts;
  say(`   ${budgetJobs} more through a worker with RESULT_BUDGET_BYTES=${resultBudgetBytes}`);
  results.largeOutputs.budget = await underBudget(ctx, inputs, budgetJobs, resultBudgetBytes);
  say(`   ${JSON.stringify(results.largeOutputs.budget)}`);
}

/**
 * `jobs` recogniser jobs through a worker that keeps stored results under `budgetBytes`, while
 * Redis's `used_memory` is read every SAMPLE_MS: its largest growth over the run against the
 * budget, and the stored result bytes the worker accounts at the end.
 */
async function underBudget(
  ctx: BenchContext,
  inputs: Record<string, Tensor>,
  jobs: number,
  budgetBytes: number,
): Promise<BudgetRunResult> {
  const env = { RESULT_BUDGET_BYTES: String(budgetBytes) };
  return flushedAfter(ctx, () =>
    ctx.withWorkers([MODEL], 1, env, async (client, prefix) => {
      const rawOutputBytes = await firstOutputBytes(client, inputs);
      const redis = new Redis(ctx.redis.url);
      try {
        const before = await usedMemory(redis);
        let peak = before;
        let samples = 0;
        let running = true;
        const sampling = (async () => {
          while (running) {
            peak = Math.max(peak, await usedMemory(redis));
            samples += 1;
            await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
          }
        })();
        await drive(client, inputs, jobs).finally(() => {
          running = false;
        });
        await sampling;
        const stored = await redis.get(queueKey(prefix, queueName(MODEL, '1'), 'cv-result-bytes'));
        const peakUsedMemoryDeltaBytes = Math.max(0, peak - before);
        return {
          jobs,
          budgetBytes,
          totalOutputBytes: rawOutputBytes * jobs,
          peakUsedMemoryDeltaBytes,
          samples,
          storedBytesAtEnd: Number(stored ?? 0),
          ratio: round(peakUsedMemoryDeltaBytes / budgetBytes, 3),
        };
      } finally {
        redis.disconnect();
      }
    }),
  );
}

/** One job first, outside any measure: it warms the model and tells the output's raw bytes. */
async function firstOutputBytes(
  client: ConveyorClient,
  inputs: Record<string, Tensor>,
): Promise<number> {
  const first = await client.predict(MODEL, inputs);
  let bytes = 0;
  for (const tensor of Object.values(first.outputs)) {
    const { data } = tensor;
    if (Array.isArray(data)) throw new Error('the recogniser returned strings');
    bytes += data.byteLength;
  }
  return bytes;
}

/** Runs `jobs` predictions, IN_FLIGHT at a time; throws if any failed. */
async function drive(
  client: ConveyorClient,
  inputs: Record<string, Tensor>,
  jobs: number,
): Promise<void> {
  let next = 0;
  let failed = 0;
  let firstError: unknown;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < jobs) {
        next += 1;
        await client.predict(MODEL, inputs, { timeoutMs: 120_000 }).catch((error: unknown) => {
          failed += 1;
          firstError ??= error;
        });
      }
    }),
  );
  if (failed > 0)
    throw new Error(
      `${failed} of ${jobs} recogniser jobs failed, the first with: ${firstError instanceof Error ? firstError.message : String(firstError)}`,
    );
}

/** Runs `work`, then flushes Redis: a thousand megabytes of results would otherwise stay. */
async function flushedAfter<T>(ctx: BenchContext, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    const redis = new Redis(ctx.redis.url);
    await redis.flushall();
    redis.disconnect();
  }
}
