/**
 * Scenario 4, synchronous latency at low load, one request at a time: `client.predict` and
 * `POST /v2/models/{name}/infer` (JSON) against a real worker; then the embedded client against
 * onnxruntime-node called directly, in this process.
 */
import { Agent } from 'node:http';
import { join } from 'node:path';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { freePort } from '../../lib/redis-server.js';
import { ROOT } from '../../lib/worker-process.js';
import type { BenchContext } from '../context.js';
import { send } from '../http-load.js';
import { percentile, round, say } from '../lib.js';
import { loadOrt } from '../ort.js';
import type { BenchResults, EmbeddedResult, LatencyResult } from '../results.js';
import { WORKLOADS, WORKLOAD_NAMES, oneRowInputs } from '../workloads.js';

async function queueLatency(ctx: BenchContext, results: BenchResults): Promise<void> {
  const latency: Record<string, LatencyResult> = {};
  await ctx.withWorkers(['iris', 'text-direction'], 1, {}, async (client, prefix) => {
    const port = await freePort();
    const producer = await ctx.producer(prefix, port);
    // One kept-alive node:http connection, as the SDK keeps its Redis one. fetch() added 0.7 to
    // 1 ms to each request's p50 here (Request, Headers, web streams): the client library's
    // cost, not the producer's.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const workload of WORKLOAD_NAMES) {
        const { input, row, rowShape } = WORKLOADS[workload];
        const inputs = oneRowInputs(workload);
        const sdk: number[] = [];
        const http: number[] = [];
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
        const post = async () => {
          const status = await send(agent, request);
          if (status !== 200) throw new Error(`infer answered ${status}`);
        };
        for (let i = 0; i < 10; i++) {
          await client.predict(workload, inputs);
          await post();
        }
        for (let i = 0; i < ctx.counts.latencySamples; i++) {
          const t0 = performance.now();
          await client.predict(workload, inputs);
          sdk.push(performance.now() - t0);
          const t1 = performance.now();
          await post();
          http.push(performance.now() - t1);
        }
        const raw = results.limit?.[workload];
        latency[workload] = {
          ...(raw && { rawP50Ms: raw.p50Ms, rawP99Ms: raw.p99Ms }),
          sdkP50Ms: round(percentile(sdk, 50), 3),
          sdkP99Ms: round(percentile(sdk, 99), 3),
          httpP50Ms: round(percentile(http, 50), 3),
          httpP99Ms: round(percentile(http, 99), 3),
        };
        say(`   ${workload}: ${JSON.stringify(latency[workload])}`);
      }
    } finally {
      agent.destroy();
      await ctx.stop(producer);
    }
  });
  results.latency = latency;
}

/** Embedded predict and raw session.run on iris, interleaved call by call in this process. */
async function embeddedLatency(ctx: BenchContext): Promise<EmbeddedResult> {
  const ort = loadOrt();
  const { input, row, rowShape } = WORKLOADS.iris;
  const session = await ort.InferenceSession.create(
    join(ROOT, 'models', 'iris', '1', 'model.onnx'),
    { intraOpNumThreads: 1 },
  );
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
    if (!Number.isFinite(sink)) throw new Error('no result');
    return {
      model: 'iris',
      samples,
      rawP50Ms: round(percentile(raw, 50), 4),
      rawP99Ms: round(percentile(raw, 99), 4),
      embeddedP50Ms: round(percentile(embedded, 50), 4),
      embeddedP99Ms: round(percentile(embedded, 99), 4),
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
