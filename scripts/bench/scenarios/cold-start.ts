/**
 * Scenario 13, cold start: what a model's first job costs when its workers were scaled to zero
 * (KEDA, `conveyor autoscale`). Jobs are queued while no worker runs; then one worker process is
 * spawned, and the time from the spawn to the first result is measured, with its phases from the
 * worker's own log records. Along the way: Redis bytes per waiting and per retained job, and the
 * worker's resident memory once it has served them (docs/scaling.md reads all three).
 */
import type { ConveyorClient } from '@conveyor/sdk';
import { createClient } from '@conveyor/sdk';
import { Redis } from 'ioredis';
import type { BenchContext } from '../context.js';
import { redisInfo, rssMiB } from '../cpu.js';
import { BUILT, percentile, round, say, type BenchModel, type Child } from '../lib.js';
import type { BenchResults, ColdStartResult } from '../results.js';
import { oneRowInputs, type Workload } from '../workloads.js';

const MODELS: readonly (BenchModel & Workload)[] = ['iris', 'text-direction'];

interface Run {
  bootMs: number;
  loadMs: number;
  warmupMs: number;
  firstResultMs: number;
  waitingJobBytes: number;
  retainedJobBytes: number;
  rssMiB: number;
}

/** The epoch ms of the first log record with this message, or NaN. */
function logTime(child: Child, msg: string): number {
  const record = child.logs.find((r) => r.msg === msg);
  return typeof record?.time === 'number' ? record.time : Number.NaN;
}

/** Waits until every handle has its result; throws the first failure. */
async function settle(results: readonly Promise<unknown>[]): Promise<void> {
  const outcomes = await Promise.allSettled(results);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed)
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
}

async function coldRun(
  ctx: BenchContext,
  client: ConveyorClient,
  prefix: string,
  model: BenchModel & Workload,
  jobs: number,
): Promise<Run> {
  const before = (await redisInfo(ctx.redis.url)).usedMemory;
  const item = { inputs: oneRowInputs(model) };
  const handles = await client.enqueueMany(
    model,
    Array.from({ length: jobs }, () => item),
  );
  const waiting = (await redisInfo(ctx.redis.url)).usedMemory;
  const results = handles.map((h) => h.result({ timeoutMs: 120_000 }));
  const spawnedAt = Date.now();
  let firstAt = Number.NaN;
  const first = () => {
    if (Number.isNaN(firstAt)) firstAt = Date.now();
  };
  for (const result of results) result.then(first, () => undefined);
  // Resolves at the worker's first log line, so its later records (with their `time`) are kept.
  const worker = await ctx.start(
    BUILT.worker,
    { REDIS_KEY_PREFIX: prefix, MODEL_REPOSITORY: ctx.repository, MODELS: model },
    '"msg":',
  );
  const bootedAt = Date.now();
  try {
    await settle(results);
    const loaded = worker.logs.find((r) => r.msg === 'model loaded');
    const run: Run = {
      bootMs: bootedAt - spawnedAt,
      loadMs: logTime(worker, 'worker ready') - bootedAt,
      warmupMs: typeof loaded?.warmupMs === 'number' ? loaded.warmupMs : Number.NaN,
      firstResultMs: firstAt - spawnedAt,
      waitingJobBytes: (waiting - before) / jobs,
      retainedJobBytes: Number.NaN,
      rssMiB: rssMiB(worker.child.pid),
    };
    run.retainedJobBytes = ((await redisInfo(ctx.redis.url)).usedMemory - before) / jobs;
    return run;
  } finally {
    await ctx.stop(worker);
  }
}

const median = (values: readonly number[]) => percentile(values, 50);

async function coldStartOf(
  ctx: BenchContext,
  model: BenchModel & Workload,
): Promise<ColdStartResult> {
  const runs = ctx.quick ? 1 : 3;
  const jobs = ctx.quick ? 50 : model === 'iris' ? 1000 : 300;
  const prefix = ctx.prefixFor(`cold-${model}`);
  // A worker announces the model once and stops: the catalogue keeps it (MODEL_EXPIRY_MS), as it
  // does for a Deployment scaled to zero, so the client queues jobs with no worker running.
  await ctx.stop(await ctx.worker(prefix, [model]));
  const client = await createClient({ redisUrl: ctx.redis.url, prefix });
  const measured: Run[] = [];
  try {
    for (let i = 0; i < runs; i++) measured.push(await coldRun(ctx, client, prefix, model, jobs));
  } finally {
    await client.close();
  }
  const of = (pick: (r: Run) => number, digits = 0) => round(median(measured.map(pick)), digits);
  return {
    runs,
    jobs,
    bootMs: of((r) => r.bootMs),
    loadMs: of((r) => r.loadMs),
    warmupMs: of((r) => r.warmupMs, 1),
    firstResultMs: of((r) => r.firstResultMs),
    waitingJobBytes: of((r) => r.waitingJobBytes),
    retainedJobBytes: of((r) => r.retainedJobBytes),
    workerRssMiB: round(Math.max(...measured.map((r) => r.rssMiB)), 1),
  };
}

export async function runColdStart(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n13. cold start: jobs queued with no worker, then one worker spawned');
  const coldStart: Record<string, ColdStartResult> = {};
  try {
    for (const model of MODELS) {
      coldStart[model] = await coldStartOf(ctx, model);
      say(`   ${model}: ${JSON.stringify(coldStart[model])}`);
    }
  } finally {
    // Retained jobs of every run would otherwise stay in Redis.
    const redis = new Redis(ctx.redis.url);
    await redis.flushall();
    redis.disconnect();
  }
  results.coldStart = coldStart;
}
