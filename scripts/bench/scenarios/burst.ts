/**
 * Scenario 5, a burst at three times capacity: the same open-loop burst of images against
 * Conveyor's async API (202, the job runs later) and a naive server that runs the model inline.
 */
import { Agent } from 'node:http';
import { join } from 'node:path';
import { queueName, queuePrefix } from '@conveyor/shared';
import { Queue } from 'bullmq';
import { freePort } from '../../lib/redis-server.js';
import { cpuSecondsOf, driverCpuSeconds, processCpuSeconds, redisInfo } from '../cpu.js';
import { ROOT } from '../../lib/worker-process.js';
import type { BenchContext } from '../context.js';
import { exchange, type LoadOptions } from '../http-load.js';
import { oipBinaryRequest, percentile, round, say } from '../lib.js';
import type { BenchResults, BurstResult, BurstSide } from '../results.js';
import { WORKLOADS, type Workload } from '../workloads.js';

export async function runBurst(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n5. a burst at several times capacity, open loop: Conveyor’s async API vs a naive server');
  results.burst = await burst(ctx, results.endToEnd?.['text-direction']?.jobsPerSecond ?? 300);
}

/** Scenario 5, on the image model: the same open-loop burst against Conveyor and a naive server. */
async function burst(ctx: BenchContext, capacity: number): Promise<BurstResult> {
  const workload: Workload = 'text-direction';
  const { input, row, rowShape } = WORKLOADS[workload];
  const rate = Math.min(1500, Math.max(50, Math.round(capacity * 3)));
  const total = Math.min(ctx.counts.burstMaxRequests, Math.round(rate * ctx.counts.burstSeconds));
  const timeoutMs = 10_000;
  const bytes = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  say(
    `   ${total} requests at ${rate}/s (3x Conveyor's measured capacity), client timeout ${timeoutMs} ms`,
  );

  /** Why requests failed in the last open loop, by the socket error's code. */
  const errorCauses = new Map<string, number>();

  /**
   * Sends `total` requests at `rate` per second without waiting for answers, over kept-alive
   * node:http connections (fetch() cost this driver about 3 ms of CPU per 110 KB request: on two
   * cores it took a core from the servers and fell behind its schedule). A driver behind schedule
   * still yields every few requests, so answers are read as they come.
   */
  async function openLoop(request: Omit<LoadOptions, 'requests' | 'concurrency'>) {
    const outcomes: { status: number | 'timeout' | 'error'; ms: number; jobId?: string }[] = [];
    const pending: Promise<void>[] = [];
    const agent = new Agent({ keepAlive: true });
    errorCauses.clear();
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      else if (i % 8 === 0) await new Promise((r) => setImmediate(r));
      const sent = performance.now();
      pending.push(
        exchange(agent, { ...request, timeoutMs }).then(
          ({ status, body }) => {
            const jobId = /"(?:job_id|id)"\s*:\s*"([^"]+)"/.exec(body)?.[1];
            outcomes.push({ status, ms: performance.now() - sent, ...(jobId && { jobId }) });
          },
          (error: unknown) => {
            const name = error instanceof Error ? error.name : '';
            const why = (error as { code?: string }).code ?? name;
            errorCauses.set(why, (errorCauses.get(why) ?? 0) + 1);
            outcomes.push({
              status: name === 'AbortError' ? 'timeout' : 'error',
              ms: performance.now() - sent,
            });
          },
        ),
      );
    }
    await Promise.all(pending);
    agent.destroy();
    return { outcomes, ms: performance.now() - t0 };
  }

  const summarise = (outcomes: { status: number | 'timeout' | 'error'; ms: number }[]) => ({
    accepted: outcomes.filter((o) => typeof o.status === 'number' && o.status < 300).length,
    refused: outcomes.filter((o) => typeof o.status === 'number' && o.status >= 400).length,
    timeouts: outcomes.filter((o) => o.status === 'timeout').length,
    errors: outcomes.filter((o) => o.status === 'error').length,
    p50Ms: round(
      percentile(
        outcomes.map((o) => o.ms),
        50,
      ),
      1,
    ),
    p99Ms: round(
      percentile(
        outcomes.map((o) => o.ms),
        99,
      ),
      1,
    ),
    errorCauses: Object.fromEntries(errorCauses),
  });

  // Conveyor: the producer answers 202 at once; the worker drains the queue behind it.
  const { pid: redisPid } = await redisInfo(ctx.redis.url);
  const conveyor = await ctx.withWorkers([workload], 1, {}, async (_client, prefix, workers) => {
    const port = await freePort();
    const producer = await ctx.producer(prefix, port);
    const queue = new Queue(queueName(workload, '1'), {
      connection: { url: ctx.redis.url },
      prefix: queuePrefix(prefix, queueName(workload, '1')),
      skipMetasUpdate: true,
    });
    try {
      // The image as raw float32 bytes (OIP's binary tensor data extension), as an image
      // client sends it; the naive server below gets the same bytes.
      const request = oipBinaryRequest(input, [1, ...rowShape], bytes);
      const burstStarted = performance.now();
      const pids = { producer: [producer.child.pid], worker: workers.map((w) => w.child.pid) };
      const before = {
        driver: process.cpuUsage(),
        producer: cpuSecondsOf(pids.producer),
        worker: cpuSecondsOf(pids.worker),
        redis: processCpuSeconds(redisPid),
      };
      const sent = await openLoop({ port, path: `/v2/models/${workload}/infer`, ...request });
      // Where the cores went while the requests were sent and answered.
      const cpuSeconds = {
        driver: round(driverCpuSeconds(before.driver), 2),
        producer: round(cpuSecondsOf(pids.producer) - before.producer, 2),
        worker: round(cpuSecondsOf(pids.worker) - before.worker, 2),
        redis: round(processCpuSeconds(redisPid) - before.redis, 2),
      };
      const sendSeconds = round(sent.ms / 1000, 2);
      // Drained: nothing waiting or running; bounded by two minutes.
      const until = performance.now() + 120_000;
      let counts = await queue.getJobCounts(
        'waiting',
        'active',
        'prioritized',
        'completed',
        'failed',
      );
      while ((counts.waiting ?? 0) + (counts.active ?? 0) + (counts.prioritized ?? 0) > 0) {
        if (performance.now() > until) break;
        await new Promise((r) => setTimeout(r, 50));
        counts = await queue.getJobCounts(
          'waiting',
          'active',
          'prioritized',
          'completed',
          'failed',
        );
      }
      const drainSeconds = (performance.now() - burstStarted) / 1000;
      const summary = summarise(sent.outcomes);
      // Lost: a job whose id the client was given (202 or 200) that did not complete.
      const acceptedIds = sent.outcomes.flatMap((o) =>
        o.jobId !== undefined && typeof o.status === 'number' && o.status < 300 ? [o.jobId] : [],
      );
      const states = await Promise.all(acceptedIds.map((id) => queue.getJobState(id)));
      return {
        ...summary,
        completed: states.filter((st) => st === 'completed').length,
        failed: states.filter((st) => st === 'failed').length,
        lost: states.filter((st) => st !== 'completed' && st !== 'failed').length,
        drainSeconds: round(drainSeconds, 2),
        sendSeconds,
        cpuSeconds,
      };
    } finally {
      await queue.close();
      await ctx.stop(producer);
    }
  });
  say(`   conveyor: ${JSON.stringify(conveyor)}`);

  // Naive: the model runs inline in the HTTP handler, on the server's only thread.
  const port = await freePort();
  const naiveServer = await ctx.start(
    'scripts/bench/naive-server.ts',
    {
      MODEL_PATH: join(ROOT, 'models', WORKLOADS[workload].file, '1', 'model.onnx'),
      PORT: String(port),
      ROW_SHAPE: rowShape.join(','),
    },
    'naive server ready',
  );
  let naive: BurstSide;
  try {
    const headers = { 'content-type': 'application/octet-stream' };
    const sent = await openLoop({ port, path: '/', body: bytes, headers });
    naive = { ...summarise(sent.outcomes), drainSeconds: round(sent.ms / 1000, 2) };
  } finally {
    await ctx.stop(naiveServer);
  }
  say(`   naive: ${JSON.stringify(naive)}`);
  return { workload, rate, total, timeoutMs, conveyor, naive };
}
