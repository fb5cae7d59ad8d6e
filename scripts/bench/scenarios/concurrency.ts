/** Scenario 7, BullMQ concurrency per worker (16 to 128), both models, batching on. */
import type { BenchContext } from '../context.js';
import { driveEndToEnd, warmUp } from '../drive.js';
import { round, say } from '../lib.js';
import type { BenchResults } from '../results.js';

export const CONCURRENCIES = [16, 32, 64, 128];

export async function runConcurrency(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n7. BullMQ concurrency per worker (batching on): jobs/s');
  const sweep: Record<string, Record<string, number>> = {};
  for (const [model, jobs] of [
    ['iris', ctx.counts.sweepJobs],
    ['text-direction', ctx.counts.imageJobs],
  ] as const) {
    const byConcurrency: Record<string, number> = {};
    sweep[model] = byConcurrency;
    for (const concurrency of CONCURRENCIES) {
      const r = await ctx.withWorkers(
        [model],
        1,
        { WORKER_CONCURRENCY: String(concurrency) },
        async (client) => {
          await warmUp(client, model, model, jobs);
          return driveEndToEnd(client, model, model, jobs);
        },
      );
      byConcurrency[String(concurrency)] = round(r.jobsPerSecond, 0);
      say(`   ${model}, concurrency ${concurrency}: ${round(r.jobsPerSecond, 0)} jobs/s`);
    }
  }
  results.concurrency = sweep;
}
