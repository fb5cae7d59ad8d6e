/**
 * Scenario 11, large outputs: N recogniser jobs (1.06 MB of float32 output each) through the
 * queue and retained, then Redis `used_memory` growth per job over the raw output bytes of one
 * result. At most 16 jobs in flight; Redis is flushed afterwards.
 */
import { createTensor } from '@conveyor/shared';
import { Redis } from 'ioredis';
import type { BenchContext } from '../context.js';
import { redisInfo } from '../cpu.js';
import { round, say } from '../lib.js';
import type { BenchResults } from '../results.js';

const MODEL = 'text-recognition';
const IN_FLIGHT = 16;
const ROW_SHAPE = [3, 48, 320];

export async function runLargeOutputs(ctx: BenchContext, results: BenchResults): Promise<void> {
  const jobs = ctx.counts.recogniserJobs;
  say(`\n11. large outputs: ${jobs} recogniser results retained in Redis`);
  const row = new Float32Array(ROW_SHAPE.reduce((n, d) => n * d, 1));
  for (let i = 0; i < row.length; i++) row[i] = ((i * 7919) % 255) / 127.5 - 1;
  const inputs = { x: createTensor('float32', [1, ...ROW_SHAPE], row) };
  try {
    let rawOutputBytes = 0;
    let failed = 0;
    let firstError: unknown;
    const r = await ctx.withWorkers([MODEL], 1, {}, async (client) => {
      // One job first, outside the measure: it warms the model and tells the output's size.
      const first = await client.predict(MODEL, inputs);
      for (const tensor of Object.values(first.outputs)) {
        const { data } = tensor;
        if (Array.isArray(data)) throw new Error('the recogniser returned strings');
        rawOutputBytes += data.byteLength;
      }
      const before = (await redisInfo(ctx.redis.url)).usedMemory;
      let next = 0;
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
      return { before, after: (await redisInfo(ctx.redis.url)).usedMemory };
    });
    if (failed > 0)
      throw new Error(
        `${failed} of ${jobs} recogniser jobs failed, the first with: ${firstError instanceof Error ? firstError.message : String(firstError)}`,
      );
    const delta = r.after - r.before;
    results.largeOutputs = {
      jobs,
      failed,
      rawOutputBytes,
      usedMemoryDeltaBytes: delta,
      bytesPerResult: round(delta / jobs, 0),
      ratio: round(delta / jobs / rawOutputBytes, 3),
    };
    say(`   ${JSON.stringify(results.largeOutputs)}`);
  } finally {
    // A thousand megabytes of results would otherwise stay in Redis.
    const redis = new Redis(ctx.redis.url);
    await redis.flushall();
    redis.disconnect();
  }
}
