/** Scenario 6, worker processes and threads: the image model end to end, batching on. */
import type { BenchContext } from '../context.js';
import { driveEndToEnd, warmUp } from '../drive.js';
import { round, say } from '../lib.js';
import type { BenchResults, ScalingResult } from '../results.js';

const CONFIGURATIONS = [
  ['1 process, inference on the main thread', 'text-direction', 1, { INFERENCE_THREADS: '0' }],
  ['1 process, 1 inference thread', 'text-direction', 1, {}],
  ['1 process, 1 thread of 2 intra-op threads', 'text-direction-intra2', 1, {}],
  ['1 process, 2 inference threads', 'text-direction', 1, { INFERENCE_THREADS: '2' }],
  ['2 processes, 1 inference thread each', 'text-direction', 2, {}],
] as const;

export async function runScaling(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n6. worker processes and threads (text-direction, batching on)');
  const scaling: Record<string, ScalingResult> = {};
  for (const [label, model, processes, env] of CONFIGURATIONS) {
    const r = await ctx.withWorkers([model], processes, env, async (client) => {
      await warmUp(client, model, 'text-direction', ctx.counts.imageJobs);
      return driveEndToEnd(client, model, 'text-direction', ctx.counts.imageJobs);
    });
    scaling[label] = {
      jobsPerSecond: round(r.jobsPerSecond, 0),
      eventLoopDelayP99Ms: round(ctx.lastLoopDelayP99Ms, 1),
    };
    say(`   ${label}: ${JSON.stringify(scaling[label])}`);
  }
  results.scaling = scaling;
}
