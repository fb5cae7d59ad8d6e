/**
 * Scenario 2, the queue's own limit: the SDK against a BullMQ worker whose processor returns a
 * constant result at once; then one predict at a time against it, the floor of scenario 4.
 */
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import type { BenchContext } from '../context.js';
import { driveEndToEnd, warmUp } from '../drive.js';
import { percentile, round, say } from '../lib.js';
import type { BenchResults } from '../results.js';
import { oneRowInputs } from '../workloads.js';

/** Runs `use` with a client of a no-op BullMQ worker for iris (scripts/bench/noop-worker.ts). */
export async function withNoopWorker<T>(
  ctx: BenchContext,
  use: (client: ConveyorClient) => Promise<T>,
): Promise<T> {
  const prefix = ctx.prefixFor('noop');
  const child = await ctx.start(
    'scripts/bench/noop-worker.ts',
    { REDIS_KEY_PREFIX: prefix, MODEL_REPOSITORY: ctx.repository, MODEL: 'iris' },
    'noop worker ready',
  );
  const client = await createClient({ redisUrl: ctx.redis.url, prefix });
  try {
    return await use(client);
  } finally {
    await client.close();
    await ctx.stop(child);
  }
}

export async function runQueueLimit(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n2. the queue’s own limit: BullMQ with a processor that returns at once (iris payloads)');
  await withNoopWorker(ctx, async (client) => {
    await warmUp(client, 'iris', 'iris', ctx.counts.irisJobs);
    const throughput = await driveEndToEnd(client, 'iris', 'iris', ctx.counts.irisJobs);
    const inputs = oneRowInputs('iris');
    for (let i = 0; i < 10; i++) await client.predict('iris', inputs);
    const sync: number[] = [];
    for (let i = 0; i < ctx.counts.latencySamples; i++) {
      const t0 = performance.now();
      await client.predict('iris', inputs);
      sync.push(performance.now() - t0);
    }
    results.queueLimit = {
      jobsPerSecond: round(throughput.jobsPerSecond, 0),
      failed: throughput.failed,
      syncP50Ms: round(percentile(sync, 50), 3),
      syncP99Ms: round(percentile(sync, 99), 3),
    };
    say(`   ${JSON.stringify(results.queueLimit)}`);
  });
}
