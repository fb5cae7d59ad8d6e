/**
 * Scenario 4, synchronous latency at low load, one request at a time: `client.predict` and
 * `POST /v2/models/{name}/infer` (JSON) against a real worker, interleaved call by call with
 * `client.predict` against scenario 2's no-op BullMQ worker for iris (the queue floor, measured
 * in the same moments) and with the same infer body posted to a bare fastify server that answers
 * at once (the least an HTTP hop costs here); then the embedded client against onnxruntime-node
 * called directly, in this process.
 */
import { Agent } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { freePort } from '../../lib/redis-server.js';
import { ROOT } from '../../lib/worker-process.js';
import type { BenchContext } from '../context.js';
import { send } from '../http-load.js';
import { percentile, round, say } from '../lib.js';
import { loadOrt } from '../ort.js';
import type { BenchResults, EmbeddedResult, LatencyResult } from '../results.js';
import {
  WORKLOADS,
  WORKLOAD_NAMES,
  modelPathOf,
  oneRowInputs,
  type Workload,
} from '../workloads.js';
import { withNoopWorker } from './queue-limit.js';

/** A workload's calls to time, one of each in turn; `floor` only where a floor applies. */
interface Calls {
  sdk(): Promise<unknown>;
  http(): Promise<unknown>;
  floor?: (() => Promise<unknown>) | undefined;
  hop?: (() => Promise<unknown>) | undefined;
}

/** Each call's latency over `samples` turns (after 10 untimed), in ms. */
async function timeInTurn(calls: Calls, samples: number): Promise<Record<keyof Calls, number[]>> {
  const times = {
    sdk: [] as number[],
    http: [] as number[],
    floor: [] as number[],
    hop: [] as number[],
  };
  const named = (
    Object.entries(calls) as [keyof Calls, (() => Promise<unknown>) | undefined][]
  ).filter((entry): entry is [keyof Calls, () => Promise<unknown>] => entry[1] !== undefined);
  for (let i = 0; i < samples + 10; i++)
    for (const [name, call] of named) {
      const t0 = performance.now();
      await call();
      if (i >= 10) times[name].push(performance.now() - t0);
    }
  return times;
}

const p50 = (times: number[]) => round(percentile(times, 50), 3);
const p99 = (times: number[]) => round(percentile(times, 99), 3);

async function queueLatency(ctx: BenchContext, results: BenchResults): Promise<void> {
  const latency: Record<string, LatencyResult> = {};
  const measure = (floor: ConveyorClient) => async (client: ConveyorClient, prefix: string) => {
    const port = await freePort();
    const producer = await ctx.producer(prefix, port);
    const barePort = await freePort();
    const bare = await ctx.start(
      'scripts/bench/bare-server.ts',
      { PORT: String(barePort) },
      'bare server ready',
    );
    // One kept-alive node:http connection, as the SDK keeps its Redis one. fetch() added 0.7 to
    // 1 ms to each request's p50 here (Request, Headers, web streams): the client library's
    // cost, not the producer's.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const bareAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const workload of WORKLOAD_NAMES) {
        const inputs = oneRowInputs(workload);
        // What the worker timed of each SDK call: its engine.predict and onnxruntime's run in it.
        const worker = { inferenceMs: [] as number[], runMs: [] as number[] };
        const times = await timeInTurn(
          {
            sdk: async () => {
              const { timings } = await client.predict(workload, inputs);
              worker.inferenceMs.push(timings.inferenceMs);
              worker.runMs.push(timings.runMs ?? Number.NaN);
            },
            http: inferPost(agent, port, workload),
            floor: workload === 'iris' ? () => floor.predict(workload, inputs) : undefined,
            hop: workload === 'iris' ? inferPost(bareAgent, barePort, workload, 202) : undefined,
          },
          ctx.counts.latencySamples,
        );
        const raw = results.limit?.[workload];
        const runs = worker.runMs.slice(-times.sdk.length).filter(Number.isFinite);
        latency[workload] = {
          ...(raw && { rawP50Ms: raw.p50Ms, rawP99Ms: raw.p99Ms }),
          ...(times.floor.length > 0 && { floorP50Ms: p50(times.floor) }),
          ...(times.hop.length > 0 && { hopP50Ms: p50(times.hop) }),
          sdkP50Ms: p50(times.sdk),
          sdkP99Ms: p99(times.sdk),
          // The timed calls are the last ones (timeInTurn leaves the first 10 untimed).
          workerInferenceP50Ms: p50(worker.inferenceMs.slice(-times.sdk.length)),
          ...(runs.length > 0 && { workerRunP50Ms: p50(runs) }),
          httpP50Ms: p50(times.http),
          httpP99Ms: p99(times.http),
        };
        say(`   ${workload}: ${JSON.stringify(latency[workload])}`);
      }
    } finally {
      agent.destroy();
      bareAgent.destroy();
      await ctx.stop(producer);
      await ctx.stop(bare);
    }
  };
  await withNoopWorker(ctx, (floor) =>
    ctx.withWorkers(['iris', 'text-direction'], 1, {}, measure(floor)),
  );
  results.latency = latency;
}

/** Posts a JSON infer request of a workload's row (the body made once), which must answer `ok`. */
function inferPost(agent: Agent, port: number, workload: Workload, ok = 200): () => Promise<void> {
  const { input, row, rowShape } = WORKLOADS[workload];
  const body = Buffer.from(
    JSON.stringify({
      inputs: [{ name: input, shape: [1, ...rowShape], datatype: 'FP32', data: [...row] }],
    }),
  );
  const request = {
    port,
    path: `/v2/models/${workload}/infer`,
    body,
    headers: { 'content-type': 'application/json' },
  };
  return async () => {
    const status = await send(agent, request);
    if (status !== ok) throw new Error(`infer answered ${status}`);
  };
}

/**
 * The idle time before each call of the second measure of `embeddedLatency`: a worker serving
 * scenario 4's SDK calls waits a few ms between its jobs (the other calls of the turn take it).
 */
const IDLE_GAP_MS = 3;

/**
 * Embedded predict and raw session.run on iris, interleaved call by call in this process; then
 * each again after `IDLE_GAP_MS` of idling, as a worker's calls come at low load. On this host a
 * call after an idle gap ran several times slower than back to back (iris's run 0.12 ms against
 * 0.013): what any code costs there, not Conveyor's alone.
 */
async function embeddedLatency(ctx: BenchContext): Promise<EmbeddedResult> {
  const ort = loadOrt();
  const { input, row, rowShape } = WORKLOADS.iris;
  const session = await ort.InferenceSession.create(modelPathOf('iris'), {
    intraOpNumThreads: 1,
  });
  const client = await createEmbeddedClient({
    repository: join(ROOT, 'models'),
    models: ['iris'],
  });
  try {
    const inputs = oneRowInputs('iris');
    const feeds = { [input]: new ort.Tensor('float32', Float32Array.from(row), [1, ...rowShape]) };
    let sink = 0;
    const raw: number[] = [];
    const embedded: number[] = [];
    const samples = ctx.counts.embeddedSamples;
    for (let i = 0; i < samples + 200; i++) {
      const t0 = performance.now();
      const out = await session.run(feeds);
      const t1 = performance.now();
      const prediction = await client.predict('iris', inputs);
      const t2 = performance.now();
      // Consume both results, so that nothing is optimised away.
      sink += (out[session.outputNames[0] ?? '']?.data[0] ?? 0) + Object.keys(prediction).length;
      if (i < 200) continue;
      raw.push(t1 - t0);
      embedded.push(t2 - t1);
    }
    const afterIdle = { raw: [] as number[], embedded: [] as number[] };
    for (let i = 0; i < ctx.counts.idleSamples; i++) {
      await sleep(IDLE_GAP_MS);
      const t0 = performance.now();
      const out = await session.run(feeds);
      afterIdle.raw.push(performance.now() - t0);
      await sleep(IDLE_GAP_MS);
      const t1 = performance.now();
      const prediction = await client.predict('iris', inputs);
      afterIdle.embedded.push(performance.now() - t1);
      sink += (out[session.outputNames[0] ?? '']?.data[0] ?? 0) + Object.keys(prediction).length;
    }
    if (!Number.isFinite(sink)) throw new Error('no result');
    return {
      model: 'iris',
      samples,
      rawP50Ms: round(percentile(raw, 50), 4),
      rawP99Ms: round(percentile(raw, 99), 4),
      embeddedP50Ms: round(percentile(embedded, 50), 4),
      embeddedP99Ms: round(percentile(embedded, 99), 4),
      idleGapMs: IDLE_GAP_MS,
      idleSamples: ctx.counts.idleSamples,
      rawAfterIdleP50Ms: round(percentile(afterIdle.raw, 50), 4),
      embeddedAfterIdleP50Ms: round(percentile(afterIdle.embedded, 50), 4),
    };
  } finally {
    await client.close();
    await session.release();
  }
}

export async function runLatency(ctx: BenchContext, results: BenchResults): Promise<void> {
  say('\n4. synchronous predict latency at low load (one request at a time)');
  await queueLatency(ctx, results);
  results.embedded = await embeddedLatency(ctx);
  say(`   embedded: ${JSON.stringify(results.embedded)}`);
}
