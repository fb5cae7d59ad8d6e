/**
 * Embedded `predict` latency against onnxruntime's own session.run on the same model, in the
 * same process, interleaved in rounds so that machine load hits both alike. Not a test: run
 *   node --import tsx --conditions=@conveyor/source packages/sdk/test/perf/embedded-latency.ts [inlineBelowMs]
 * and read the p50/p99 it prints (JSON on stdout). Env: ROUNDS (default 10) rounds of CALLS
 * (default 2000) calls each way; KEEP sets keepCompleted.count (default the client's 10 000).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createEmbeddedClient, type EmbeddedClientOptions } from '@conveyor/sdk/embedded';

/** The part of onnxruntime-node this script calls (the SDK does not depend on it: the engine's copy). */
interface Ort {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => object;
  InferenceSession: {
    create(
      path: string,
      options: object,
    ): Promise<{
      run(feeds: Record<string, object>): Promise<Record<string, { data: unknown }>>;
      release(): Promise<void>;
    }>;
  };
}
const ort = createRequire(import.meta.resolve('@conveyor/engine'))('onnxruntime-node') as Ort;

const REPOSITORY = fileURLToPath(new URL('../../../../models', import.meta.url));
const ROW = [5.1, 3.5, 1.4, 0.2];
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const CALLS = Number(process.env.CALLS ?? 2000);

const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 10_000) / 10_000;
  return {
    p50: round(quantile(sorted, 0.5)),
    p95: round(quantile(sorted, 0.95)),
    p99: round(quantile(sorted, 0.99)),
  };
}

async function main() {
  const inline = process.argv[2];
  const options: EmbeddedClientOptions = { repository: REPOSITORY, models: ['iris'] };
  if (process.env.KEEP !== undefined)
    options.keepCompleted = { count: Number(process.env.KEEP), ageSeconds: 3600 };
  if (inline !== undefined) options.inlineBelowMs = Number(inline);
  const client = await createEmbeddedClient(options);
  const session = await ort.InferenceSession.create(`${REPOSITORY}/iris/1/model.onnx`, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  let sink = 0;
  const raw = async () => {
    const feeds = { features: new ort.Tensor('float32', Float32Array.from(ROW), [1, 4]) };
    const out = await session.run(feeds);
    sink += (out.probabilities?.data as Float32Array)[0] ?? 0;
  };
  const embedded = async () => {
    const { outputs } = await client.predict('iris', { features: [ROW] });
    sink += (outputs.probabilities?.data as Float32Array)[0] ?? 0;
  };
  const samples = { raw: [] as number[], embedded: [] as number[] };
  for (const call of [raw, embedded]) for (let i = 0; i < CALLS; i++) await call();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, call] of [
      ['raw', raw],
      ['embedded', embedded],
    ] as const) {
      for (let i = 0; i < CALLS; i++) {
        const started = performance.now();
        await call();
        samples[name].push(performance.now() - started);
      }
    }
  }
  await client.close();
  await session.release();
  const result = {
    inlineBelowMs: inline ?? 'default',
    raw: summary(samples.raw),
    embedded: summary(samples.embedded),
    sink: sink > 0,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
