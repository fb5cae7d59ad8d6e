import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runProducer } from '@conveyor/producer/run';
import { createClient } from '@conveyor/sdk';
import { loadConfig, type Config } from '@conveyor/shared';
import { runWorker } from '@conveyor/worker/run';
import type { ServiceName } from '../src/context.js';
import { createProgram } from '../src/program.js';
import { freePort } from '../src/redis-server.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { appArgs } from '../../../scripts/lib/worker-process.js';
import { MODELS, ROOT } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

afterAll(() => dropPrefix(redisUrl, prefix));

/** Runs one `conveyor` command in this process, recording what it asks the launcher to start. */
async function launched(args: string[], env: Record<string, string>, stdout = new PassThrough()) {
  const calls: { service: ServiceName; config: Config }[] = [];
  const ctx = {
    io: {
      stdin: new PassThrough(),
      stdout,
      stderr: new PassThrough(),
      env,
      cwd: ROOT,
      // As `pnpm conveyor` runs the CLI from its sources: the test's own process has no tsx.
      self: appArgs('cli', 'sources'),
    },
    launch: (service: ServiceName, config: Config) => {
      calls.push({ service, config });
      return Promise.resolve();
    },
    exitCode: undefined as number | undefined,
  };
  const program = createProgram(ctx);
  program.exitOverride();
  await program.parseAsync(['node', 'conveyor', ...args]);
  return { calls, exitCode: ctx.exitCode };
}

describe('services started in-process', () => {
  it('`serve` and `worker` pass the config from flags and env as an argument, not through process.env', async () => {
    const before = { ...process.env };
    const env = { REDIS_URL: redisUrl, KEEP_COMPLETED_JOBS: '5', PRODUCER_PORT: '9000' };
    const { calls: serve } = await launched(
      ['serve', '--port', '0', '--grpc-port', '8081', '--prefix', prefix],
      env,
    );
    const { calls: worker } = await launched(
      ['worker', '--models', 'iris', '--threads', '2', '--http-port', '9464'],
      env,
    );
    expect(process.env).toEqual(before);
    expect(serve).toHaveLength(1);
    expect(serve[0]?.service).toBe('producer');
    expect(serve[0]?.config).toMatchObject({
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      PRODUCER_PORT: 0,
      GRPC_PORT: 8081,
      KEEP_COMPLETED_JOBS: 5,
      PREDICT_TIMEOUT_MS: 30_000,
    });
    expect(worker[0]?.service).toBe('worker');
    expect(worker[0]?.config).toMatchObject({
      MODELS: ['iris'],
      INFERENCE_THREADS: 2,
      WORKER_HTTP_PORT: 9464,
    });
  });

  it('runWorker and runProducer start, serve and stop without touching process.env', async () => {
    const before = { ...process.env };
    const config = loadConfig({
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      MODEL_REPOSITORY: MODELS,
      MODELS: 'iris',
      WORKER_NICE: '0',
      LOG_LEVEL: 'silent',
      PRODUCER_HOST: '127.0.0.1',
      PRODUCER_PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    const worker = runWorker(config);
    const producer = runProducer(config);
    const client = await createClient({ redisUrl, prefix });
    try {
      expect((await worker.started).models).toEqual(['iris']);
      const app = await producer.started;
      const { port } = app.server.address() as AddressInfo;
      const ready = await fetch(`http://127.0.0.1:${port}/v2/health/ready`);
      expect(ready.status).toBe(200);
      const result = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
      expect(result.model).toBe('iris');
    } finally {
      await client.close();
      await Promise.all([producer.stop(), worker.stop()]);
    }
    expect(producer.stopping && worker.stopping).toBe(true);
    expect(process.env).toEqual(before);
  });

  it('`dev` starts its members with the env they need, leaving its own process.env alone', async () => {
    const before = { ...process.env };
    const signals = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const port = await freePort();
    const out = new PassThrough();
    let output = '';
    out.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const env = {
      PATH: process.env.PATH ?? '',
      REDIS_URL: redisUrl,
      MODEL_REPOSITORY: MODELS,
      LOG_LEVEL: 'warn',
      WORKER_NICE: '0',
    };
    const args = ['dev', '--prefix', prefix, '--port', String(port), '--models', 'iris'];
    const dev = launched(args, env, out);
    // The members are up once the producer answers; stopping one stops the group.
    while (!(await fetch(`http://127.0.0.1:${port}/v2/health/live`).catch(() => undefined))?.ok)
      await sleep(200);
    const worker = Number(/\[dev\] worker: pid (\d+)/.exec(output)?.[1]);
    process.kill(worker, 'SIGTERM');
    const { calls, exitCode } = await dev;
    expect(calls).toEqual([]);
    expect(exitCode).toBe(1);
    expect(output).toContain('[dev] stopped (worker 0, serve 0)');
    expect(process.env).toEqual(before);
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(signals);
  }, 90_000);
});
