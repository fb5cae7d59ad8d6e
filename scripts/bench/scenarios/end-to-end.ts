/** Scenario 3, end to end: one-row jobs through the SDK and one worker, batching off and on. */
import type { BenchContext } from '../context.js';
import {
  cpuSecondsOf,
  driverCpuSeconds,
  processCpuSeconds,
  processKernelUse,
  redisInfo,
} from '../cpu.js';
import { driveEndToEnd, warmUp } from '../drive.js';
import { round, say } from '../lib.js';
import type { BenchResults, EndToEndResult } from '../results.js';

const RUNS = [
  ['iris-unbatched', 'iris'],
  ['iris', 'iris'],
  ['text-direction-unbatched', 'text-direction'],
  ['text-direction', 'text-direction'],
] as const;

export async function runEndToEnd(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n3. Conveyor end to end through the SDK (bulk enqueue, every result back), one worker');
  const { pid: redisPid } = await redisInfo(ctx.redis.url);
  const e2e: Record<string, EndToEndResult> = {};
  for (const [model, workload] of RUNS) {
    const jobs = workload === 'iris' ? ctx.counts.irisJobs : ctx.counts.imageJobs;
    const r = await ctx.withWorkers([model], 1, {}, async (client, _prefix, workers) => {
      await warmUp(client, model, workload, jobs);
      // Where the two cores went: CPU seconds of this driver, the worker and Redis.
      const pids = workers.map((w) => w.child.pid);
      const before = {
        driver: process.cpuUsage(),
        worker: cpuSecondsOf(pids),
        redis: processCpuSeconds(redisPid),
        redisKernel: processKernelUse(redisPid),
      };
      const result = await driveEndToEnd(client, model, workload, jobs);
      const redisKernel = processKernelUse(redisPid);
      return {
        ...result,
        cpuSeconds: {
          driver: round(driverCpuSeconds(before.driver), 2),
          worker: round(cpuSecondsOf(pids) - before.worker, 2),
          redis: round(processCpuSeconds(redisPid) - before.redis, 2),
        },
        redisKernel: {
          systemSeconds: round(redisKernel.systemSeconds - before.redisKernel.systemSeconds, 2),
          minorFaults: redisKernel.minorFaults - before.redisKernel.minorFaults,
        },
      };
    });
    e2e[model] = {
      jobs,
      jobsPerSecond: round(r.jobsPerSecond, 0),
      failed: r.failed,
      meanBatchRows: round(r.meanBatchRows, 1),
      seconds: round(jobs / r.jobsPerSecond, 2),
      cpuSeconds: r.cpuSeconds,
      redisKernel: r.redisKernel,
    };
    say(`   ${model}: ${JSON.stringify(e2e[model])}`);
  }
  results.endToEnd = e2e;
}
