/**
 * `pnpm bench`: measures Conveyor against the physical limits, side by side in one run, on
 * loopback only, and prints a table of ratios; the same data goes to docs/benchmarks.json.
 * Every loop is bounded in count and time, and everything started here is stopped here.
 *
 *   pnpm bench            the full run (a few minutes)
 *   pnpm bench --quick    a smoke run with small counts (about a minute)
 *   pnpm bench --out f    write the JSON elsewhere
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSession, type ModelSession } from '@conveyor/engine';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import {
  SessionConfigSchema,
  createTensor,
  queueName,
  type SessionConfig,
  type Tensor,
} from '@conveyor/shared';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { freePort, startRedisServer } from '../lib/redis-server.js';
import { textLine } from '../lib/text-line.js';
import { ROOT } from '../lib/worker-process.js';
import {
  benchRepository,
  chunks,
  machine,
  percentile,
  round,
  say,
  startChild,
  timed,
  type BenchModel,
  type Child,
} from './lib.js';

const USAGE = `pnpm bench [--quick] [--only 1,3,...] [--out file.json]

  --quick        fewer jobs and shorter windows (a smoke run; the ratios are rougher)
  --only <list>  scenario numbers to run, 1-7 (default all; the ratios need all)
  --out <file>   where the JSON goes (default docs/benchmarks.json)
`;

function parseBenchArgs() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        /** Comma-separated scenario numbers to run (default all); ratios need all. */
        only: { type: 'string' },
        out: { type: 'string', default: join(ROOT, 'docs', 'benchmarks.json') },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (error) {
    process.stderr.write(
      `bench: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`,
    );
    process.exit(2);
  }
}

const args = parseBenchArgs();
if (args.help === true) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const quick = args.quick ?? false;
const only = new Set((args.only ?? '1,2,3,4,5,6,7').split(',').map((n) => Number(n.trim())));
const unknown = [...only].filter((n) => !Number.isInteger(n) || n < 1 || n > 7);
if (unknown.length > 0) {
  process.stderr.write(
    `bench: --only takes scenario numbers from 1 to 7, not ${args.only}\n\n${USAGE}`,
  );
  process.exit(2);
}
const runs = (n: number) => only.has(n);
const counts = {
  limitSeconds: quick ? 0.3 : 1.5,
  irisJobs: quick ? 1000 : 10_000,
  imageJobs: quick ? 300 : 3000,
  latencySamples: quick ? 50 : 300,
  burstSeconds: quick ? 1 : 4,
  burstMaxRequests: quick ? 500 : 4000,
  sweepJobs: quick ? 500 : 4000,
};

/** The two workloads: the tabular model and the image model, one row each. */
const WORKLOADS = {
  iris: {
    file: 'iris',
    input: 'features',
    output: 'probabilities',
    row: Float32Array.of(5.9, 3.0, 5.1, 1.8),
    rowShape: [4],
  },
  'text-direction': {
    file: 'text-direction',
    input: 'x',
    output: 'softmax_0.tmp_0',
    row: textLine('CONVEYOR'),
    rowShape: [3, 48, 192],
  },
} as const;
type Workload = keyof typeof WORKLOADS;

function batchOf(workload: Workload, rows: number): Tensor {
  const { row, rowShape } = WORKLOADS[workload];
  const data = new Float32Array(row.length * rows);
  for (let i = 0; i < rows; i++) data.set(row, i * row.length);
  return createTensor('float32', [rows, ...rowShape], data);
}

const results: Record<string, unknown> = {};
const started = Date.now();
const redis = await startRedisServer();
const repository = await benchRepository();
const children = new Set<Child>();
say(`Conveyor benchmark${quick ? ' (quick)' : ''}: ${JSON.stringify(machine())}`);
say(`Redis: throwaway redis-server at ${redis.url}; models: ${repository}`);

const prefixFor = (name: string) => `bench-${name.slice(0, 12)}-${randomUUID().slice(0, 8)}`;

async function start(entry: string, env: Record<string, string>, ready: string): Promise<Child> {
  const child = await startChild(entry, { REDIS_URL: redis.url, ...env }, ready);
  children.add(child);
  return child;
}

async function stop(child: Child): Promise<void> {
  await child.stop();
  children.delete(child);
}

function worker(prefix: string, models: BenchModel[], env: Record<string, string> = {}) {
  return start(
    'apps/worker/src/main.ts',
    {
      REDIS_KEY_PREFIX: prefix,
      MODEL_REPOSITORY: repository,
      MODELS: models.join(','),
      ...env,
    },
    '"worker ready"',
  );
}

/** Sends `jobs` one-row jobs through the SDK in bulk and waits for every result. */
async function endToEnd(
  client: ConveyorClient,
  model: BenchModel,
  workload: Workload,
  jobs: number,
): Promise<{ jobsPerSecond: number; failed: number; meanBatchRows: number }> {
  const { input, row, rowShape } = WORKLOADS[workload];
  const item = { inputs: { [input]: createTensor('float32', [1, ...rowShape], row) } };
  let failed = 0;
  let batchRows = 0;
  const { ms } = await timed(async () => {
    // A sliding window: at most 2000 jobs waited on at once keeps the driver's memory bounded,
    // and enqueueing goes on while results come back, so the worker never waits for the driver.
    const pending = new Set<Promise<void>>();
    for (const part of chunks(Array.from({ length: jobs }), 250)) {
      while (pending.size + part.length > 2000) await Promise.race(pending);
      const handles = await client.enqueueMany(
        model,
        part.map(() => item),
      );
      for (const handle of handles) {
        const done: Promise<void> = handle
          .result({ timeoutMs: 120_000 })
          .then(
            (prediction) => {
              batchRows += (prediction.timings as { batchRows?: number }).batchRows ?? 1;
            },
            () => {
              failed += 1;
            },
          )
          .finally(() => pending.delete(done));
        pending.add(done);
      }
    }
    await Promise.all(pending);
  });
  return {
    jobsPerSecond: (jobs / ms) * 1000,
    failed,
    meanBatchRows: batchRows / Math.max(1, jobs - failed),
  };
}

/** CPU seconds (user + system, every thread) the child processes used so far; Linux only. */
function cpuSeconds(children: readonly Child[]): number {
  let ticks = 0;
  for (const { child } of children) {
    try {
      // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name.
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return Number.NaN;
    }
  }
  return ticks / 100;
}

/** CPU seconds the benchmark's Redis has used so far. */
async function redisCpu(): Promise<number> {
  const connection = new Redis(redis.url);
  try {
    const info = await connection.info('cpu');
    const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? NaN);
    return field('used_cpu_sys') + field('used_cpu_user');
  } finally {
    connection.disconnect();
  }
}

/** The highest p99 event-loop delay the workers reported when they stopped, in ms. */
let lastLoopDelayP99Ms = Number.NaN;

async function withWorkers<T>(
  models: BenchModel[],
  processes: number,
  env: Record<string, string>,
  run: (client: ConveyorClient, prefix: string, workers: readonly Child[]) => Promise<T>,
): Promise<T> {
  const prefix = prefixFor(models.join('-'));
  const workers: Child[] = [];
  for (let i = 0; i < processes; i++) workers.push(await worker(prefix, models, env));
  const client = await createClient({ redisUrl: redis.url, prefix });
  try {
    return await run(client, prefix, workers);
  } finally {
    await client.close();
    for (const w of workers) await stop(w);
    const delays = workers.flatMap((w) =>
      w.logs
        .filter((r) => r.msg === 'worker stopped')
        .map((r) => (r.eventLoopDelayMs as { p99: number } | undefined)?.p99 ?? Number.NaN),
    );
    lastLoopDelayP99Ms = delays.length > 0 ? Math.max(...delays) : Number.NaN;
  }
}

// 1. The limit: onnxruntime-node in-process, no queue.
async function limit(workload: Workload, session: ModelSession) {
  const { input, output } = WORKLOADS[workload];
  const sizes = [1, 4, 16, 32, 64];
  const bySize: Record<number, number> = {};
  for (const size of sizes) {
    const tensor = batchOf(workload, size);
    await session.run({ [input]: tensor }, [output]);
    let calls = 0;
    const { ms } = await timed(async () => {
      const until = performance.now() + counts.limitSeconds * 1000;
      while (performance.now() < until) {
        await session.run({ [input]: tensor }, [output]);
        calls += 1;
      }
    });
    bySize[size] = (calls * size * 1000) / ms;
  }
  const latencies: number[] = [];
  const one = batchOf(workload, 1);
  for (let i = 0; i < counts.latencySamples; i++) {
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

const sessions: Partial<Record<Workload, ModelSession>> = {};
async function sessionFor(workload: Workload, config: Partial<SessionConfig> = {}) {
  return openSession(
    join(ROOT, 'models', WORKLOADS[workload].file, '1', 'model.onnx'),
    SessionConfigSchema.parse(config),
  );
}

try {
  say('\n1. the limit: onnxruntime-node in-process, no queue');
  const limits: Partial<Record<Workload, Awaited<ReturnType<typeof limit>>>> = {};
  for (const workload of Object.keys(WORKLOADS) as Workload[]) {
    const session = await sessionFor(workload);
    sessions[workload] = session;
    limits[workload] = await limit(workload, session);
    say(`   ${workload}: ${JSON.stringify(limits[workload])}`);
  }
  results.limit = limits;

  if (runs(2)) {
    say('\n2. the queue’s own limit: BullMQ with a processor that returns at once (iris payloads)');
    const noop = await (async () => {
      const prefix = prefixFor('noop');
      const child = await start(
        'scripts/bench/noop-worker.ts',
        { REDIS_KEY_PREFIX: prefix, MODEL_REPOSITORY: repository, MODEL: 'iris' },
        'noop worker ready',
      );
      const client = await createClient({ redisUrl: redis.url, prefix });
      try {
        const throughput = await endToEnd(client, 'iris', 'iris', counts.irisJobs);
        // The floor of scenario 4: one predict at a time through the SDK, BullMQ and Redis, with
        // nothing decoded or run on the worker's side.
        const { input, row, rowShape } = WORKLOADS.iris;
        const inputs = { [input]: createTensor('float32', [1, ...rowShape], row) };
        for (let i = 0; i < 10; i++) await client.predict('iris', inputs);
        const sync: number[] = [];
        for (let i = 0; i < counts.latencySamples; i++) {
          const t0 = performance.now();
          await client.predict('iris', inputs);
          sync.push(performance.now() - t0);
        }
        return { ...throughput, sync };
      } finally {
        await client.close();
        await stop(child);
      }
    })();
    results.queueLimit = {
      jobsPerSecond: round(noop.jobsPerSecond, 0),
      failed: noop.failed,
      syncP50Ms: round(percentile(noop.sync, 50), 3),
      syncP99Ms: round(percentile(noop.sync, 99), 3),
    };
    say(`   ${JSON.stringify(results.queueLimit)}`);
  }

  const e2e: Record<
    string,
    {
      jobsPerSecond: number;
      failed: number;
      meanBatchRows: number;
      seconds: number;
      cpuSeconds: { driver: number; worker: number; redis: number };
    }
  > = {};
  if (runs(3))
    say('\n3. Conveyor end to end through the SDK (bulk enqueue, every result back), one worker');
  for (const [model, workload, jobs] of runs(3)
    ? ([
        ['iris-unbatched', 'iris', counts.irisJobs],
        ['iris', 'iris', counts.irisJobs],
        ['text-direction-unbatched', 'text-direction', counts.imageJobs],
        ['text-direction', 'text-direction', counts.imageJobs],
      ] as const)
    : []) {
    const r = await withWorkers([model], 1, {}, async (client, _prefix, workers) => {
      // Where the two cores went: CPU seconds of this driver, the worker and Redis.
      const before = {
        driver: process.cpuUsage(),
        worker: cpuSeconds(workers),
        redis: await redisCpu(),
      };
      const result = await endToEnd(client, model, workload, jobs);
      const driver = process.cpuUsage(before.driver);
      return {
        ...result,
        cpuSeconds: {
          driver: round((driver.user + driver.system) / 1e6, 2),
          worker: round(cpuSeconds(workers) - before.worker, 2),
          redis: round((await redisCpu()) - before.redis, 2),
        },
      };
    });
    e2e[model] = {
      jobsPerSecond: round(r.jobsPerSecond, 0),
      failed: r.failed,
      meanBatchRows: round(r.meanBatchRows, 1),
      seconds: round(jobs / r.jobsPerSecond, 2),
      cpuSeconds: r.cpuSeconds,
    };
    say(`   ${model}: ${JSON.stringify(e2e[model])}`);
  }
  results.endToEnd = e2e;

  const latency: Record<string, unknown> = {};
  if (runs(4)) say('\n4. synchronous predict latency at low load (one request at a time)');
  if (runs(4))
    await withWorkers(['iris', 'text-direction'], 1, {}, async (client, prefix) => {
      const port = await freePort();
      const producer = await start(
        'apps/producer/src/main.ts',
        {
          REDIS_KEY_PREFIX: prefix,
          PRODUCER_HOST: '127.0.0.1',
          // One client address sends everything here: the per-client rate limit is off.
          RATE_LIMIT_MAX: '0',
          PRODUCER_PORT: String(port),
        },
        '"producer ready"',
      );
      try {
        for (const workload of Object.keys(WORKLOADS) as Workload[]) {
          const { input, row, rowShape } = WORKLOADS[workload];
          const inputs = { [input]: createTensor('float32', [1, ...rowShape], row) };
          const sdk: number[] = [];
          const http: number[] = [];
          const body = JSON.stringify({
            inputs: [{ name: input, shape: [1, ...rowShape], datatype: 'FP32', data: [...row] }],
          });
          const url = `http://127.0.0.1:${port}/v2/models/${workload}/infer`;
          for (let i = 0; i < 10; i++) {
            await client.predict(workload, inputs);
            await fetch(url, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json' },
            });
          }
          for (let i = 0; i < counts.latencySamples; i++) {
            const t0 = performance.now();
            await client.predict(workload, inputs);
            sdk.push(performance.now() - t0);
            const t1 = performance.now();
            const response = await fetch(url, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json' },
            });
            await response.arrayBuffer();
            if (!response.ok) throw new Error(`infer answered ${response.status}`);
            http.push(performance.now() - t1);
          }
          const raw = limits[workload];
          latency[workload] = {
            rawP50Ms: raw?.p50Ms,
            rawP99Ms: raw?.p99Ms,
            sdkP50Ms: round(percentile(sdk, 50), 3),
            sdkP99Ms: round(percentile(sdk, 99), 3),
            httpP50Ms: round(percentile(http, 50), 3),
            httpP99Ms: round(percentile(http, 99), 3),
          };
          say(`   ${workload}: ${JSON.stringify(latency[workload])}`);
        }
      } finally {
        await stop(producer);
      }
    });
  results.latency = latency;

  if (runs(5)) {
    say(
      '\n5. a burst at several times capacity, open loop: Conveyor’s async API vs a naive server',
    );
    results.burst = await burst(e2e['text-direction']?.jobsPerSecond ?? 300);
  }

  const scaling: Record<string, { jobsPerSecond: number; eventLoopDelayP99Ms: number }> = {};
  if (runs(6)) say('\n6. worker processes and threads (text-direction, batching on)');
  for (const [label, model, processes, env] of runs(6)
    ? ([
        [
          '1 process, inference on the main thread',
          'text-direction',
          1,
          { INFERENCE_THREADS: '0' },
        ],
        ['1 process, 1 inference thread', 'text-direction', 1, {}],
        ['1 process, 1 thread of 2 intra-op threads', 'text-direction-intra2', 1, {}],
        ['1 process, 2 inference threads', 'text-direction', 1, { INFERENCE_THREADS: '2' }],
        ['2 processes, 1 inference thread each', 'text-direction', 2, {}],
      ] as const)
    : []) {
    const r = await withWorkers([model], processes, env, (client) =>
      endToEnd(client, model, 'text-direction', counts.imageJobs),
    );
    scaling[label] = {
      jobsPerSecond: round(r.jobsPerSecond, 0),
      eventLoopDelayP99Ms: round(lastLoopDelayP99Ms, 1),
    };
    say(`   ${label}: ${JSON.stringify(scaling[label])}`);
  }
  results.scaling = scaling;

  const sweep: Record<string, Record<string, number>> = {};
  if (runs(7)) say('\n7. BullMQ concurrency per worker (batching on): jobs/s');
  for (const [model, jobs] of runs(7)
    ? ([
        ['iris', counts.sweepJobs],
        ['text-direction', counts.imageJobs],
      ] as const)
    : []) {
    sweep[model] = {};
    for (const concurrency of [4, 16, 32, 64]) {
      const r = await withWorkers(
        [model],
        1,
        { WORKER_CONCURRENCY: String(concurrency) },
        (client) => endToEnd(client, model, model, jobs),
      );
      sweep[model][String(concurrency)] = round(r.jobsPerSecond, 0);
      say(`   ${model}, concurrency ${concurrency}: ${round(r.jobsPerSecond, 0)} jobs/s`);
    }
  }
  results.concurrency = sweep;

  if (only.size === 7) results.ratios = ratios();
  results.machine = machine();
  results.quick = quick;
  results.date = new Date().toISOString();
  results.durationS = round((Date.now() - started) / 1000, 0);
  if (only.size === 7) printTable();
  await writeFile(args.out ?? 'benchmarks.json', `${JSON.stringify(results, null, 2)}\n`);
  say(`\nwrote ${args.out}`);
} finally {
  for (const child of [...children]) await stop(child);
  for (const session of Object.values(sessions)) await session.release();
  await redis.stop();
}

/** Scenario 5, on the image model: the same open-loop burst against Conveyor and a naive server. */
async function burst(capacity: number) {
  const workload: Workload = 'text-direction';
  const { input, row, rowShape } = WORKLOADS[workload];
  const rate = Math.min(1500, Math.max(50, Math.round(capacity * 3)));
  const total = Math.min(counts.burstMaxRequests, Math.round(rate * counts.burstSeconds));
  const timeoutMs = 10_000;
  const bytes = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  say(
    `   ${total} requests at ${rate}/s (3x Conveyor's measured capacity), client timeout ${timeoutMs} ms`,
  );

  /** Why requests failed in the last open loop, by the socket error's code. */
  const errorCauses = new Map<string, number>();

  /** Sends `total` requests at `rate` per second without waiting for answers. */
  async function openLoop(send: () => Promise<Response>) {
    const outcomes: { status: number | 'timeout' | 'error'; ms: number; jobId?: string }[] = [];
    const pending: Promise<void>[] = [];
    errorCauses.clear();
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const sent = performance.now();
      pending.push(
        send()
          .then(async (response) => {
            const text = await response.text();
            const jobId = /"(?:job_id|id)"\s*:\s*"([^"]+)"/.exec(text)?.[1];
            outcomes.push({
              status: response.status,
              ms: performance.now() - sent,
              ...(jobId !== undefined && { jobId }),
            });
          })
          .catch((error: unknown) => {
            const name = error instanceof Error ? error.name : '';
            // fetch wraps the socket's error: its code says what happened (ECONNRESET, ...).
            const cause = (error as { cause?: { code?: string; message?: string } }).cause;
            const why = cause?.code ?? cause?.message ?? name;
            errorCauses.set(why, (errorCauses.get(why) ?? 0) + 1);
            outcomes.push({
              status: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'error',
              ms: performance.now() - sent,
            });
          }),
      );
    }
    await Promise.all(pending);
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
  const conveyor = await withWorkers([workload], 1, {}, async (client, prefix) => {
    const port = await freePort();
    const producer = await start(
      'apps/producer/src/main.ts',
      {
        REDIS_KEY_PREFIX: prefix,
        PRODUCER_HOST: '127.0.0.1',
        // One client address sends everything here: the per-client rate limit is off.
        RATE_LIMIT_MAX: '0',
        PRODUCER_PORT: String(port),
      },
      '"producer ready"',
    );
    const queue = new Queue(queueName(workload, '1'), {
      connection: { url: redis.url },
      prefix,
      skipMetasUpdate: true,
    });
    try {
      // The image as raw float32 bytes (OIP's binary tensor data extension), as an image
      // client sends it; the naive server below gets the same bytes.
      const header = Buffer.from(
        JSON.stringify({
          inputs: [
            {
              name: input,
              shape: [1, ...rowShape],
              datatype: 'FP32',
              parameters: { binary_data_size: bytes.byteLength },
            },
          ],
        }),
      );
      const body = Buffer.concat([header, bytes]);
      const burstStarted = performance.now();
      const sent = await openLoop(() =>
        fetch(`http://127.0.0.1:${port}/v2/models/${workload}/infer`, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/octet-stream',
            'inference-header-content-length': String(header.byteLength),
            prefer: 'respond-async',
          },
          signal: AbortSignal.timeout(timeoutMs),
        }),
      );
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
      };
    } finally {
      await queue.close();
      await stop(producer);
    }
  });
  say(`   conveyor: ${JSON.stringify(conveyor)}`);

  // Naive: the model runs inline in the HTTP handler, on the server's only thread.
  const port = await freePort();
  const naiveServer = await start(
    'scripts/bench/naive-server.ts',
    {
      MODEL_PATH: join(ROOT, 'models', WORKLOADS[workload].file, '1', 'model.onnx'),
      PORT: String(port),
      ROW_SHAPE: rowShape.join(','),
    },
    'naive server ready',
  );
  let naive;
  try {
    const body = bytes;
    const sent = await openLoop(() =>
      fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/octet-stream' },
        signal: AbortSignal.timeout(timeoutMs),
      }),
    );
    naive = { ...summarise(sent.outcomes), drainSeconds: round(sent.ms / 1000, 2) };
  } finally {
    await stop(naiveServer);
  }
  say(`   naive: ${JSON.stringify(naive)}`);
  return { workload, rate, total, timeoutMs, conveyor, naive };
}

function ratios() {
  const limit = results.limit as Record<Workload, { bestRowsPerSecond: number }>;
  const e2e = results.endToEnd as Record<string, { jobsPerSecond: number }>;
  const latency = results.latency as Record<Workload, Record<string, number>>;
  const queueLimit = results.queueLimit as { jobsPerSecond: number };
  const burstResult = results.burst as {
    conveyor: { timeouts: number; errors: number; refused: number; lost: number; failed: number };
    naive: { timeouts: number; errors: number; refused: number };
  };
  const scaling = results.scaling as Record<string, { jobsPerSecond: number }>;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? Number.NaN : round(a / b, 3);
  return {
    irisBatchedOverLimit: ratio(e2e.iris?.jobsPerSecond, limit.iris.bestRowsPerSecond),
    imageBatchedOverLimit: ratio(
      e2e['text-direction']?.jobsPerSecond,
      limit['text-direction'].bestRowsPerSecond,
    ),
    trivialOverQueue: ratio(e2e.iris?.jobsPerSecond, queueLimit.jobsPerSecond),
    syncOverheadP50Ms: Object.fromEntries(
      (Object.keys(WORKLOADS) as Workload[]).map((w) => [
        w,
        {
          sdk: round((latency[w]?.sdkP50Ms ?? Number.NaN) - (latency[w]?.rawP50Ms ?? 0), 3),
          http: round((latency[w]?.httpP50Ms ?? Number.NaN) - (latency[w]?.rawP50Ms ?? 0), 3),
        },
      ]),
    ),
    burstErrors: {
      conveyor:
        burstResult.conveyor.timeouts +
        burstResult.conveyor.errors +
        burstResult.conveyor.refused +
        burstResult.conveyor.failed,
      conveyorLost: burstResult.conveyor.lost,
      naive: burstResult.naive.timeouts + burstResult.naive.errors + burstResult.naive.refused,
    },
    twoProcessesOverOne: ratio(
      scaling['2 processes, 1 inference thread each']?.jobsPerSecond,
      scaling['1 process, 1 inference thread']?.jobsPerSecond,
    ),
  };
}

function printTable() {
  const r = results.ratios as ReturnType<typeof ratios>;
  const limit = results.limit as Record<
    Workload,
    { batch1RowsPerSecond: number; bestBatch: number; bestRowsPerSecond: number }
  >;
  const e2e = results.endToEnd as Record<string, { jobsPerSecond: number; meanBatchRows: number }>;
  const lines: [string, string, string][] = [
    [
      'iris: in-process limit, batch 1 / best',
      `${limit.iris.batch1RowsPerSecond} / ${limit.iris.bestRowsPerSecond} rows/s (batch ${limit.iris.bestBatch})`,
      '',
    ],
    [
      'text-direction: in-process limit, batch 1 / best',
      `${limit['text-direction'].batch1RowsPerSecond} / ${limit['text-direction'].bestRowsPerSecond} rows/s (batch ${limit['text-direction'].bestBatch})`,
      '',
    ],
    [
      'queue limit (noop processor)',
      `${(results.queueLimit as { jobsPerSecond: number }).jobsPerSecond} jobs/s`,
      '',
    ],
    [
      'queue floor: SDK predict, noop processor, p50',
      `${(results.queueLimit as { syncP50Ms: number }).syncP50Ms} ms`,
      '',
    ],
    ...Object.entries(e2e).map(([model, v]): [string, string, string] => [
      `end to end: ${model}`,
      `${v.jobsPerSecond} jobs/s (mean batch ${v.meanBatchRows} rows)`,
      '',
    ]),
    ['(3 batched) / (1 best), iris', String(r.irisBatchedOverLimit), 'target >= 0.8'],
    ['(3 batched) / (1 best), text-direction', String(r.imageBatchedOverLimit), 'target >= 0.8'],
    ['(3 on iris) / (2 queue limit)', String(r.trivialOverQueue), ''],
    ...(Object.entries(r.syncOverheadP50Ms) as [string, { sdk: number; http: number }][]).map(
      ([w, v]): [string, string, string] => [
        `sync overhead over raw at p50, ${w}`,
        `SDK ${v.sdk} ms, HTTP ${v.http} ms`,
        'target < 2 ms',
      ],
    ),
    [
      'burst errors: Conveyor / naive',
      `${r.burstErrors.conveyor} / ${r.burstErrors.naive} (Conveyor lost ${r.burstErrors.conveyorLost})`,
      'target 0 lost, 0 failed',
    ],
    ['scaling: 2 worker processes / 1', String(r.twoProcessesOverOne), ''],
  ];
  const width = Math.max(...lines.map((l) => l[0].length));
  const width2 = Math.max(...lines.map((l) => l[1].length));
  say('\n| measure | value | target |');
  say('| --- | --- | --- |');
  for (const [a, b, c] of lines) say(`| ${a.padEnd(width)} | ${b.padEnd(width2)} | ${c} |`);
}
