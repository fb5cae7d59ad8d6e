import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { loadConfig, queueName, queuePrefix } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { MODELS, memoryLogger } from '../../../test/support/workers.js';
import {
  freePort,
  hasRedisServerBinary,
  startRedisServer,
} from '../../../scripts/lib/redis-server.js';
import { runWorker, type WorkerRun } from '../src/run-worker.js';

const redisUrl = inject('redisUrl');
const IRIS = { features: [[5.1, 3.5, 1.4, 0.2]] };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into samples (comments and blank lines skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; undefined if none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}) {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1)
    throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value;
}

async function get(port: number, path: string, method = 'GET') {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), text };
}

async function getJson(port: number, path: string) {
  const { status, text } = await get(port, path);
  return { status, body: JSON.parse(text) as Record<string, unknown> };
}

const scrape = async (port: number) => parseMetrics((await get(port, '/metrics')).text);

function workerConfig(url: string, prefix: string, port: number, env: Record<string, string> = {}) {
  return loadConfig({
    REDIS_URL: url,
    REDIS_KEY_PREFIX: prefix,
    MODEL_REPOSITORY: MODELS,
    WORKER_HTTP_PORT: String(port),
    WORKER_HTTP_HOST: '127.0.0.1',
    WORKER_NICE: '0',
    ...env,
  });
}

describe('a worker’s metrics and health endpoints', () => {
  const prefix = uniquePrefix();
  let root: string;
  let port: number;
  let run: WorkerRun;
  let client: ConveyorClient;
  let version: string;
  const LIVENESS_MS = 1000;

  beforeAll(async () => {
    // Both models (iris runs on the main thread, text-direction on an inference thread) and one
    // that cannot load.
    root = await mkdtemp(join(tmpdir(), 'conveyor-worker-health-'));
    for (const name of ['iris', 'text-direction'])
      await cp(join(MODELS, name), join(root, name), { recursive: true });
    await mkdir(join(root, 'corrupt', '1'), { recursive: true });
    await writeFile(
      join(root, 'corrupt', '1', 'model.json'),
      JSON.stringify({
        name: 'corrupt',
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
      }),
    );
    await writeFile(join(root, 'corrupt', '1', 'model.onnx'), 'not an onnx file');
    port = await freePort();
    const config = workerConfig(redisUrl, prefix, port, {
      MODEL_REPOSITORY: root,
      WORKER_HTTP_LIVENESS_MS: String(LIVENESS_MS),
    });
    run = runWorker(config, memoryLogger().logger);
    const service = await run.started;
    version = service.engine.resolve('iris').entry.version;
    client = await createClient({ redisUrl, prefix });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await run?.stop();
    await dropPrefix(redisUrl, prefix);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('counts and times the jobs it ran, by model, version and outcome, with the failure code', async () => {
    for (let i = 0; i < 3; i++) await client.predict('iris', IRIS);
    // Refused by the worker: its deadline passed before the worker took it.
    const late = await client.enqueue('iris', IRIS, { deadline: Date.now() - 1000 });
    await expect(late.result()).rejects.toMatchObject({ code: 'ERR_DEADLINE_EXCEEDED' });
    // Written into the queue around the SDK: a payload the worker cannot read.
    const queue = new Queue(queueName('iris', version), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', version)),
    });
    try {
      await queue.add('predict', { model: 'iris', inputs: 'not tensors' });
    } finally {
      await queue.close();
    }
    const iris = { model: 'iris', version };
    await expect
      .poll(async () =>
        valueOf(await scrape(port), 'conveyor_jobs_total', {
          ...iris,
          code: 'ERR_PAYLOAD_INVALID',
        }),
      )
      .toBe(1);

    const samples = await scrape(port);
    const jobs = samples.filter((s) => s.name === 'conveyor_jobs_total');
    expect(jobs.map((s) => [s.labels, s.value])).toEqual(
      expect.arrayContaining([
        [{ ...iris, outcome: 'completed' }, 3],
        [{ ...iris, outcome: 'failed', code: 'ERR_DEADLINE_EXCEEDED' }, 1],
        [{ ...iris, outcome: 'failed', code: 'ERR_PAYLOAD_INVALID' }, 1],
      ]),
    );
    expect(jobs).toHaveLength(3);
    // Every job taken waited in the queue; only completed ones are timed through the engine.
    for (const [name, count] of [
      ['conveyor_job_queue_wait_seconds', 5],
      ['conveyor_job_inference_seconds', 3],
      ['conveyor_job_end_to_end_seconds', 3],
    ] as const) {
      expect({ name, count: valueOf(samples, `${name}_count`, iris) }).toEqual({ name, count });
      expect(valueOf(samples, `${name}_bucket`, { ...iris, le: '+Inf' })).toBe(count);
      expect(valueOf(samples, `${name}_sum`, iris)).toBeGreaterThan(0);
    }
    // One row per job, however the batcher joined them.
    expect(valueOf(samples, 'conveyor_batch_rows_sum', iris)).toBe(3);
    const calls = valueOf(samples, 'conveyor_batch_rows_count', iris) ?? 0;
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(3);
    expect(valueOf(samples, 'conveyor_inference_busy_seconds_total', iris)).toBeGreaterThan(0);
  });

  it('reports the versions it holds, their state, load time and threads, and Redis', async () => {
    const samples = await scrape(port);
    const states = samples
      .filter((s) => s.name === 'conveyor_model_versions')
      .map((s) => `${s.labels.model}@${s.labels.version}:${s.labels.state}=${s.value}`)
      .sort();
    const direction = (await run.started).engine.resolve('text-direction').entry.version;
    expect(states).toEqual([
      'corrupt@1:failed=1',
      `iris@${version}:ready=1`,
      `text-direction@${direction}:ready=1`,
    ]);
    for (const model of ['iris', 'text-direction']) {
      const labels = { model, version: model === 'iris' ? version : direction };
      expect(valueOf(samples, 'conveyor_model_load_seconds', labels)).toBeGreaterThan(0);
      expect(valueOf(samples, 'conveyor_model_warmup_seconds', labels)).toBeGreaterThan(0);
      expect(valueOf(samples, 'conveyor_batch_target_rows', labels)).toBeGreaterThan(0);
      expect(valueOf(samples, 'conveyor_jobs_active', labels)).toBe(0);
    }
    expect(
      valueOf(samples, 'conveyor_inference_threads', { model: 'text-direction' }),
    ).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'conveyor_redis_up')).toBe(1);
    // Process metrics and the event loop's delay, from prom-client's defaults.
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('serves the metrics in Prometheus text format', async () => {
    const res = await get(port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain('# TYPE conveyor_jobs_total counter');
    expect(res.text).toContain('# TYPE conveyor_job_queue_wait_seconds histogram');
  });

  it('is ready once its models are loaded, and lists every version with its state', async () => {
    const { status, body } = await getJson(port, '/readyz');
    expect(status).toBe(200);
    expect(body.status).toBe('ready');
    expect(body.versions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ model: 'iris', version, state: 'ready' }),
        expect.objectContaining({ model: 'text-direction', state: 'ready', inline: false }),
        expect.objectContaining({
          model: 'corrupt',
          version: '1',
          state: 'failed',
          reason: expect.stringContaining('ERR_MODEL_UNAVAILABLE') as string,
        }),
      ]),
    );
  });

  it('is live while the event loop, the inference threads and Redis answer', async () => {
    // Loading the models may have held the loop up; that passes within seconds.
    await expect
      .poll(async () => (await get(port, '/livez')).status, { timeout: 15_000, interval: 200 })
      .toBe(200);
    const { body } = await getJson(port, '/livez');
    expect(body).toMatchObject({
      status: 'ok',
      checks: {
        eventLoop: { ok: true, boundMs: LIVENESS_MS },
        threads: {
          ok: true,
          versions: expect.arrayContaining([
            expect.objectContaining({ model: 'text-direction', answered: true, inline: false }),
            expect.objectContaining({ model: 'iris', answered: true }),
          ]) as unknown,
        },
        redis: { ok: true, state: 'answering' },
      },
    });
  });

  it('is not live right after its event loop was held up past the bound, and is again later', async () => {
    await expect
      .poll(async () => (await get(port, '/livez')).status, { timeout: 15_000, interval: 200 })
      .toBe(200);
    // Holds the event loop, as a runaway computation on the main thread would.
    const until = performance.now() + LIVENESS_MS * 1.5;
    while (performance.now() < until);
    const { status, body } = await getJson(port, '/livez');
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: 'failing', checks: { eventLoop: { ok: false } } });
    const { worstLagMs } = (body.checks as { eventLoop: { worstLagMs: number } }).eventLoop;
    expect(worstLagMs).toBeGreaterThan(LIVENESS_MS);
    // The hold-up is remembered for 5 to 10 s, then forgotten.
    await expect
      .poll(async () => (await get(port, '/livez')).status, { timeout: 20_000, interval: 500 })
      .toBe(200);
  }, 30_000);

  it('fails the start of a second worker whose port is taken, with ERR_CONFIG_INVALID', async () => {
    const second = runWorker(workerConfig(redisUrl, prefix, port), memoryLogger().logger);
    await expect(second.started).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      details: { host: '127.0.0.1', port },
    });
    await second.stop();
    expect((await get(port, '/readyz')).status).toBe(200);
  });

  it('answers 404 for other paths and 405 for other methods, in the error shape', async () => {
    const missing = await getJson(port, '/nope');
    expect(missing).toMatchObject({
      status: 404,
      body: { code: 'ERR_ROUTE_NOT_FOUND', statusCode: 404, error: 'Not Found' },
    });
    const post = await get(port, '/metrics', 'POST');
    expect(post.status).toBe(405);
    expect((await get(port, '/readyz', 'HEAD')).status).toBe(200);
  });
});

describe.runIf(hasRedisServerBinary())(
  'a worker’s health as its Redis comes, freezes and thaws',
  () => {
    const prefix = uniquePrefix();
    let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    let run: WorkerRun | undefined;
    let port: number;

    afterAll(async () => {
      if (redis?.process.signalCode === null) redis.process.kill('SIGCONT');
      await run?.stop();
      await redis?.stop();
    });

    const status = async (path: string) => (await get(port, path)).status;

    it('answers from its start: not ready while Redis is away, ready once the models load', async () => {
      const redisPort = await freePort();
      port = await freePort();
      run = runWorker(
        workerConfig(`redis://127.0.0.1:${redisPort}`, prefix, port, { MODELS: 'iris' }),
        memoryLogger().logger,
      );
      // Nothing listens on the Redis port yet: the worker waits for it.
      await expect.poll(() => status('/readyz').catch(() => 0)).toBe(503);
      expect((await getJson(port, '/readyz')).body).toEqual({ status: 'starting', versions: [] });
      expect(await status('/livez')).toBe(200);

      redis = await startRedisServer({ port: redisPort });
      await run.started;
      await expect.poll(() => status('/readyz'), { timeout: 15_000 }).toBe(200);
    }, 40_000);

    it('is not live while Redis is frozen, and is again once it thaws', async () => {
      await expect.poll(() => status('/livez'), { timeout: 15_000 }).toBe(200);
      redis!.process.kill('SIGSTOP');
      await expect.poll(() => status('/livez'), { timeout: 15_000, interval: 100 }).toBe(503);
      const { body } = await getJson(port, '/livez');
      expect(body).toMatchObject({
        status: 'failing',
        checks: { redis: { ok: false, state: 'not answering' }, eventLoop: { ok: true } },
      });
      expect(valueOf(await scrape(port), 'conveyor_redis_up')).toBe(0);

      redis!.process.kill('SIGCONT');
      await expect.poll(() => status('/livez'), { timeout: 15_000, interval: 100 }).toBe(200);
      expect(valueOf(await scrape(port), 'conveyor_redis_up')).toBe(1);
    }, 40_000);

    it('closes its port when it stops', async () => {
      await run!.stop();
      await expect(get(port, '/readyz')).rejects.toThrow();
      await dropPrefix(redis!.url, prefix);
    });
  },
);
