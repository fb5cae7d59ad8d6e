import { Agent } from 'node:http';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import {
  createTensor,
  queueName,
  toNumbers,
  type Tensor,
  queuePrefix,
  queueKey,
} from '@conveyor/shared';
import { irisReference } from '../../scripts/lib/iris-weights.js';
import { textLine } from '../../scripts/lib/text-line.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';
import {
  MiB,
  mib,
  pool,
  prefixMemory,
  redisUsedMemory,
  report,
  rssBytes,
  scanKeys,
  send,
  spawnProducer,
  type ProducerProcess,
} from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

// Counted in jobs, not seconds: ROUNDS rounds of this mix, memory sampled after each.
// SOAK_SCALE multiplies the jobs of each round, for a longer soak by hand (45: about a million
// jobs, some 15 minutes here); CI runs scale 1.
const SCALE = Number(process.env.SOAK_SCALE ?? '1');
if (!Number.isInteger(SCALE) || SCALE < 1 || SCALE > 100)
  throw new Error(`SOAK_SCALE must be an integer from 1 to 100, not ${process.env.SOAK_SCALE}`);
const ROUNDS = 20;
const IRIS_HTTP = 500 * SCALE;
const IRIS_SDK = 500 * SCALE;
const DIRECTION_HTTP = 50 * SCALE;
const DIRECTION_SDK = 50 * SCALE;
const HTTP_CONCURRENCY = 32;
const KEEP_COMPLETED_JOBS = 500;
const EVENTS_MAX_LEN = 1000;
// Rounds 4-9 are the early plateau (the first rounds warm up: JIT, sessions, retention filling);
// rounds 15-20 are the late samples compared with it. Six samples a window, because a Node
// process's RSS saws up and down by tens of MiB between major GCs.
const PLATEAU = [3, 4, 5, 6, 7, 8];
const LATE = [14, 15, 16, 17, 18, 19];
// A process may grow this much past its plateau's peak: GC timing and allocator slack, not leaks.
// A leak of about 6 KiB per job would exceed it over the 13 200 jobs between the windows; the
// bounds on Redis and on the client's heap below are much tighter.
const RSS_MARGIN = { ratio: 0.2, bytes: 24 * MiB };
// The test process's own heap is measured after a full GC (--expose-gc), so it can be held tighter.
const HEAP_MARGIN = { ratio: 0.1, bytes: 4 * MiB };
const REDIS_MARGIN = { ratio: 0.2, bytes: 2 * MiB };

const ENV = {
  KEEP_COMPLETED_JOBS: String(KEEP_COMPLETED_JOBS),
  EVENTS_MAX_LEN: String(EVENTS_MAX_LEN),
};

interface Sample {
  jobs: number;
  producer: number;
  workers: number[];
  /** This process (the SDK client): heap used after a full GC. */
  clientHeap: number;
  redisUsed: number;
  prefixBytes: number;
  prefixKeys: number;
}

const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.0, 2.7, 4.5, 1.5],
  [7.2, 3.2, 6.0, 1.8],
  [4.9, 3.0, 1.4, 0.2],
];

const row = (i: number) => IRIS_ROWS[i % IRIS_ROWS.length]!;

/** True when iris probabilities match the independent TypeScript computation within 1e-5. */
function irisMatches(input: readonly number[], probabilities: readonly number[]): boolean {
  const expected = irisReference([input])[0]!;
  return (
    probabilities.length === 3 && expected.every((p, c) => Math.abs(probabilities[c]! - p) < 1e-5)
  );
}

/** Heap used by this process after a full collection (the load config runs with --expose-gc). */
function heapAfterGc(): number {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

/** Past a window's maximum by more than the margin? Returns the allowed bound. */
function bound(samples: readonly number[], margin: { ratio: number; bytes: number }): number {
  return Math.max(...samples) * (1 + margin.ratio) + margin.bytes;
}

/** The binary (Triton extension) body of one text-direction infer request. */
function directionBody(line: Float32Array): { body: Buffer; headerLength: number } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'x',
          shape: [1, 3, 48, 192],
          datatype: 'FP32',
          parameters: { binary_data_size: line.byteLength },
        },
      ],
    }),
  );
  const bytes = Buffer.from(line.buffer, line.byteOffset, line.byteLength);
  return { body: Buffer.concat([header, bytes]), headerLength: header.length };
}

/**
 * A soak of 20 000 iris and 2 000 text-direction jobs through a producer process (HTTP) and the
 * SDK, to two worker processes: memory of every process and of Redis stays on its early plateau.
 */
describe(`soak: ${(ROUNDS * (IRIS_HTTP + IRIS_SDK + DIRECTION_HTTP + DIRECTION_SDK)).toLocaleString('en')} jobs through the producer and the SDK to two workers`, () => {
  let workers: WorkerProcess[] = [];
  let producer: ProducerProcess;
  let client: ConveyorClient;
  let redis: Redis;
  let agent: Agent;

  beforeAll(async () => {
    workers = await Promise.all([
      spawnWorker(redisUrl, prefix, ENV),
      spawnWorker(redisUrl, prefix, ENV),
    ]);
    producer = await spawnProducer(redisUrl, prefix, ENV);
    client = await createClient({
      redisUrl,
      prefix,
      keepCompleted: { count: KEEP_COMPLETED_JOBS, ageSeconds: 3600 },
      eventsMaxLen: EVENTS_MAX_LEN,
    });
    redis = new Redis(redisUrl);
    agent = new Agent({ keepAlive: true, maxSockets: HTTP_CONCURRENCY });
  }, 120_000);

  afterAll(async () => {
    agent?.destroy();
    await client?.close();
    await producer?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    redis?.disconnect();
    await dropPrefix(redisUrl, prefix);
  });

  it(
    'keeps worker, producer, client and Redis memory on their early plateau, and leaves no stored inputs',
    async () => {
      const upright = textLine('CONVEYOR');
      const rotated = textLine('CONVEYOR', true);
      const lines: Tensor[] = [
        createTensor('float32', [1, 3, 48, 192], upright),
        createTensor('float32', [1, 3, 48, 192], rotated),
      ];
      const bodies = [directionBody(upright), directionBody(rotated)];
      // One sample of the JSON iris body per row, so the loop does not stringify 10 000 times.
      const irisBodies = IRIS_ROWS.map((r) =>
        JSON.stringify({
          inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: r }],
        }),
      );
      const failures: string[] = [];
      const fail = (what: string) => {
        if (failures.length < 20) failures.push(what);
        else failures[19] = `${what} (and more)`;
      };
      const samples: Sample[] = [];
      let jobs = 0;

      const irisOverHttp = (i: number) =>
        send({
          method: 'POST',
          url: `${producer.url}/v2/models/iris/infer`,
          body: irisBodies[i % IRIS_ROWS.length]!,
          headers: { 'content-type': 'application/json' },
          timeoutMs: 30_000,
          agent,
        }).then((outcome) => {
          if (outcome.kind !== 'response' || outcome.status !== 200) {
            return fail(`iris http: ${JSON.stringify(outcome).slice(0, 300)}`);
          }
          const answer = JSON.parse(outcome.body) as { outputs: { data: number[] }[] };
          if (!irisMatches(row(i), answer.outputs[0]?.data ?? [])) fail(`iris http ${i}: wrong`);
        });

      const directionOverHttp = (i: number) => {
        const { body, headerLength } = bodies[i % 2]!;
        return send({
          method: 'POST',
          url: `${producer.url}/v2/models/text-direction/infer`,
          body,
          headers: {
            'content-type': 'application/octet-stream',
            'inference-header-content-length': String(headerLength),
          },
          timeoutMs: 30_000,
          agent,
        }).then((outcome) => {
          if (outcome.kind !== 'response' || outcome.status !== 200) {
            return fail(`text-direction http: ${JSON.stringify(outcome).slice(0, 300)}`);
          }
          const answer = JSON.parse(outcome.body) as { outputs: { data: number[] }[] };
          const [up = 0, down = 0] = answer.outputs[0]?.data ?? [];
          if (i % 2 === 0 ? up <= down : down <= up) fail(`text-direction http ${i}: wrong class`);
        });
      };

      const overSdk = async (model: 'iris' | 'text-direction', count: number) => {
        const items =
          model === 'iris'
            ? Array.from({ length: count }, (_, i) => ({ features: [row(i)] }))
            : Array.from({ length: count }, (_, i) => ({ x: lines[i % 2]! }));
        for await (const result of client.predictMany(model, items, { concurrency: 64 })) {
          if (!result.ok) {
            fail(`${model} sdk: ${result.error.code} ${result.error.message}`);
            continue;
          }
          const out = Object.values(result.prediction.outputs)[0];
          const values = out ? toNumbers(out) : [];
          const ok =
            model === 'iris'
              ? irisMatches(row(result.index), values)
              : result.index % 2 === 0
                ? values[0]! > values[1]!
                : values[1]! > values[0]!;
          if (!ok) fail(`${model} sdk ${result.index}: wrong`);
        }
      };

      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all([
          pool(IRIS_HTTP, HTTP_CONCURRENCY - 8, irisOverHttp),
          pool(DIRECTION_HTTP, 8, directionOverHttp),
          overSdk('iris', IRIS_SDK),
          overSdk('text-direction', DIRECTION_SDK),
        ]);
        jobs += IRIS_HTTP + IRIS_SDK + DIRECTION_HTTP + DIRECTION_SDK;
        const [producerRss, workerRss, redisUsed, prefixUsage] = await Promise.all([
          rssBytes(producer.child.pid!),
          Promise.all(workers.map((w) => rssBytes(w.child.pid!))),
          redisUsedMemory(redis),
          prefixMemory(redis, prefix),
        ]);
        samples.push({
          jobs,
          producer: producerRss,
          workers: workerRss,
          clientHeap: heapAfterGc(),
          redisUsed,
          prefixBytes: prefixUsage.bytes,
          prefixKeys: prefixUsage.keys,
        });
      }

      // Stored inputs are deleted when their job ends; the last deletions may trail the results.
      await expect
        .poll(async () => (await scanKeys(redis, `${prefix}:{*}:blob:*`)).length, {
          timeout: 10_000,
        })
        .toBe(0);
      const counts: Record<string, Record<string, number>> = {};
      const events: Record<string, number> = {};
      for (const model of ['iris', 'text-direction']) {
        const queue = new Queue(queueName(model, '1'), {
          connection: redis,
          prefix: queuePrefix(prefix, queueName(model, '1')),
          skipMetasUpdate: true,
        });
        counts[model] = await queue.getJobCounts('completed', 'failed', 'waiting', 'active');
        events[model] = await redis.xlen(queueKey(prefix, queueName(model, '1'), 'events'));
        await queue.close();
      }

      const table = samples.map((s) =>
        [
          String(s.jobs).padStart(6),
          String(mib(s.producer)).padStart(8),
          s.workers.map((w) => String(mib(w)).padStart(8)).join(''),
          String(mib(s.clientHeap)).padStart(8),
          String(mib(s.redisUsed)).padStart(8),
          String(mib(s.prefixBytes)).padStart(8),
          String(s.prefixKeys).padStart(6),
        ].join(''),
      );
      report(
        [
          '',
          `soak: ${jobs} jobs (${ROUNDS * (IRIS_HTTP + DIRECTION_HTTP)} over HTTP, ${ROUNDS * (IRIS_SDK + DIRECTION_SDK)} through the SDK), ${failures.length} failed`,
          'memory in MiB after each round:',
          '  jobs producer worker 1 worker 2 client¹   redis  prefix  keys',
          ...table.map((line) => `  ${line}`),
          '  (RSS of the producer and workers; ¹ heap of this process, the SDK client, after GC;',
          "  redis: used_memory less client buffers; prefix: MEMORY USAGE of the test prefix's keys, and their count)",
          `retention: completed ${JSON.stringify(counts)}; event stream lengths ${JSON.stringify(events)}`,
          '',
        ].join('\n'),
      );

      expect(failures).toEqual([]);
      const series = {
        producer: samples.map((s) => s.producer),
        'worker 1': samples.map((s) => s.workers[0]!),
        'worker 2': samples.map((s) => s.workers[1]!),
      };
      for (const [name, values] of Object.entries(series)) {
        const limit = bound(
          PLATEAU.map((i) => values[i]!),
          RSS_MARGIN,
        );
        for (const i of LATE) {
          expect(values[i], `${name} RSS after ${samples[i]!.jobs} jobs`).toBeLessThanOrEqual(
            limit,
          );
        }
      }
      const heaps = samples.map((s) => s.clientHeap);
      const heapLimit = bound(
        PLATEAU.map((i) => heaps[i]!),
        HEAP_MARGIN,
      );
      for (const i of LATE) {
        expect(heaps[i], `client heap after ${samples[i]!.jobs} jobs`).toBeLessThanOrEqual(
          heapLimit,
        );
      }
      for (const [name, pick] of [
        ['redis used_memory less client buffers', (s: Sample) => s.redisUsed],
        ['redis bytes of the prefix', (s: Sample) => s.prefixBytes],
      ] as const) {
        const limit = bound(
          PLATEAU.map((i) => pick(samples[i]!)),
          REDIS_MARGIN,
        );
        for (const i of LATE) {
          expect(pick(samples[i]!), `${name} after ${samples[i]!.jobs} jobs`).toBeLessThanOrEqual(
            limit,
          );
        }
      }
      for (const model of ['iris', 'text-direction']) {
        expect(counts[model]).toMatchObject({ failed: 0, waiting: 0, active: 0 });
        expect(counts[model]!.completed).toBeLessThanOrEqual(KEEP_COMPLETED_JOBS);
        // XADD MAXLEN ~ trims whole stream nodes (100 entries each by default), so allow one node.
        expect(events[model]).toBeLessThanOrEqual(EVENTS_MAX_LEN + 100);
      }
    },
    240_000 * SCALE,
  );
});
