/**
 * What every scenario shares: the counts of this run, the throwaway Redis, the temporary model
 * repository, and the child processes it starts (all stopped by `close()`).
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { startRedisServer, type RedisHandle } from '../lib/redis-server.js';
import { BUILT, benchRepository, startChild, type BenchModel, type Child } from './lib.js';

/** How much each scenario does; `--quick` makes a smoke run. */
export function countsFor(quick: boolean) {
  return {
    limitSeconds: quick ? 0.3 : 1.5,
    // Plain BullMQ (scenario 8) runs as many: a fresh worker's first thousands of jobs cost more
    // (JIT, first collections), and unequal counts would spread that over more of plain's jobs.
    irisJobs: quick ? 2000 : 20_000,
    imageJobs: quick ? 300 : 3000,
    latencySamples: quick ? 50 : 1000,
    embeddedSamples: quick ? 2000 : 20_000,
    // Each after 3 ms of idling: 300 take about 2 s.
    idleSamples: quick ? 50 : 300,
    burstSeconds: quick ? 1 : 4,
    burstMaxRequests: quick ? 500 : 4000,
    burstWarmRequests: quick ? 100 : 1000,
    sweepJobs: quick ? 500 : 4000,
    // Turns of 5,000 lasted 0.5 to 0.9 s: one busy moment of a host whose speed swings by up to
    // 2x within seconds could decide which server measured faster (as scenario 3's turns).
    ingestIrisRequests: quick ? 500 : 20_000,
    ingestImageRequests: quick ? 200 : 3000,
    offlineRows: quick ? 20_000 : 1_000_000,
    offlineTimeLimitS: quick ? 60 : 100,
    recogniserJobs: quick ? 50 : 400,
    // Issue 14's run of 5,000 (5.3 GB of outputs) through a budget they fill twenty times over.
    budgetJobs: quick ? 100 : 5000,
    resultBudgetBytes: (quick ? 32 : 256) * 1024 * 1024,
    ocrPages: quick ? 6 : 40,
    ocrInFlight: 4,
    ocrTimeLimitS: quick ? 30 : 45,
  };
}

export type Counts = ReturnType<typeof countsFor>;

export interface BenchContext {
  readonly quick: boolean;
  /**
   * `--profile`: scenarios 3, 8 and 9 start the processes they compare with their JIT code named
   * for perf, and profile one more turn of each (perf-profile.ts).
   */
  readonly profile: boolean;
  readonly counts: Counts;
  readonly redis: RedisHandle;
  /** The temporary model repository holding every variant of BENCH_MODELS. */
  readonly repository: string;
  /** A fresh Redis key prefix, so that no scenario sees another's keys. */
  prefixFor(name: string): string;
  /** Starts a child process with REDIS_URL set; `close()` stops it if the scenario does not. */
  start(entry: string, env: Record<string, string>, ready: string): Promise<Child>;
  stop(child: Child): Promise<void>;
  /** A Conveyor worker process serving `models` of the bench repository. */
  worker(
    prefix: string,
    models: readonly BenchModel[],
    env?: Record<string, string>,
  ): Promise<Child>;
  /** A Conveyor producer process on a port, with the per-client rate limit off. */
  producer(prefix: string, port: number, env?: Record<string, string>): Promise<Child>;
  /**
   * Starts `processes` workers and an SDK client on a fresh prefix, runs `run`, and stops them;
   * `lastLoopDelayP99Ms` then holds the highest p99 event-loop delay the workers reported.
   */
  withWorkers<T>(
    models: readonly BenchModel[],
    processes: number,
    env: Record<string, string>,
    run: (client: ConveyorClient, prefix: string, workers: readonly Child[]) => Promise<T>,
  ): Promise<T>;
  readonly lastLoopDelayP99Ms: number;
  close(): Promise<void>;
}

export async function createBenchContext(quick: boolean, profile = false): Promise<BenchContext> {
  const redis = await startRedisServer();
  const repository = await benchRepository();
  const children = new Set<Child>();
  let lastLoopDelayP99Ms = Number.NaN;

  const context: BenchContext = {
    quick,
    profile,
    counts: countsFor(quick),
    redis,
    repository,
    get lastLoopDelayP99Ms() {
      return lastLoopDelayP99Ms;
    },
    prefixFor: (name) => `bench-${name.slice(0, 12)}-${randomUUID().slice(0, 8)}`,
    async start(entry, env, ready) {
      const child = await startChild(entry, { REDIS_URL: redis.url, ...env }, ready);
      children.add(child);
      return child;
    },
    async stop(child) {
      await child.stop();
      children.delete(child);
    },
    worker(prefix, models, env = {}) {
      return context.start(
        BUILT.worker,
        {
          REDIS_KEY_PREFIX: prefix,
          MODEL_REPOSITORY: repository,
          MODELS: models.join(','),
          ...env,
        },
        '"worker ready"',
      );
    },
    producer(prefix, port, env = {}) {
      return context.start(
        BUILT.producer,
        {
          REDIS_KEY_PREFIX: prefix,
          PRODUCER_HOST: '127.0.0.1',
          // One client address sends everything here: the per-client rate limit is off.
          RATE_LIMIT_MAX: '0',
          PRODUCER_PORT: String(port),
          ...env,
        },
        '"producer ready"',
      );
    },
    async withWorkers(models, processes, env, run) {
      const prefix = context.prefixFor(models.join('-'));
      const workers: Child[] = [];
      for (let i = 0; i < processes; i++) workers.push(await context.worker(prefix, models, env));
      const client = await createClient({ redisUrl: redis.url, prefix });
      try {
        return await run(client, prefix, workers);
      } finally {
        await client.close();
        for (const w of workers) await context.stop(w);
        const delays = workers.flatMap((w) =>
          w.logs
            .filter((r) => r.msg === 'worker stopped')
            .map((r) => (r.eventLoopDelayMs as { p99: number } | undefined)?.p99 ?? Number.NaN),
        );
        lastLoopDelayP99Ms = delays.length > 0 ? Math.max(...delays) : Number.NaN;
      }
    },
    async close() {
      for (const child of [...children]) await context.stop(child);
      await redis.stop();
      await rm(repository, { recursive: true, force: true });
    },
  };
  return context;
}
