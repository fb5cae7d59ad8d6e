import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../src/redis-server.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { alive, finished, startCli, type CliRun } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

/** Starts `conveyor dev`, collecting its output as it comes. */
function startDev(args: string[]): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<CliRun>;
} {
  const child = startCli(['dev', ...args], { env: { LOG_LEVEL: 'info' } });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return { child, output: () => output, exited: finished(child) };
}

/** Waits until the producer is ready and its worker serves iris (the producer is ready first). */
async function ready(port: number, dev: { child: ChildProcess }): Promise<Response> {
  for (;;) {
    expect(dev.child.exitCode).toBeNull();
    const response = await fetch(`http://127.0.0.1:${port}/v2/health/ready`).catch(() => undefined);
    const model = await fetch(`http://127.0.0.1:${port}/v2/models/iris/ready`).catch(
      () => undefined,
    );
    if (response?.ok && model?.ok) return response;
    await sleep(200);
  }
}

const pidOf = (output: string, name: string) =>
  Number(new RegExp(`\\[dev\\] ${name}: pid (\\d+)`).exec(output)?.[1]);
const pidOfRedis = (output: string) =>
  Number(/throwaway redis-server at \S+ \(pid (\d+)\)/.exec(output)?.[1]);

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && alive(pid); i += 1) await sleep(100);
  return !alive(pid);
}

afterAll(() => dropPrefix(redisUrl, prefix));

describe('conveyor dev', () => {
  it('runs a worker and the HTTP API on the given Redis, prefixes their lines, and stops all on SIGTERM with exit 0', async () => {
    const port = await freePort();
    const dev = startDev([
      '--redis-url',
      redisUrl,
      '--prefix',
      prefix,
      '--port',
      String(port),
      '--models',
      'iris',
    ]);
    const response = await ready(port, dev);
    expect(await response.json()).toMatchObject({ ready: true });
    const worker = pidOf(dev.output(), 'worker');
    const serve = pidOf(dev.output(), 'serve');
    expect(alive(worker) && alive(serve)).toBe(true);

    dev.child.kill('SIGTERM');
    const run = await dev.exited;
    expect(run.code).toBe(0);
    expect(await gone(worker)).toBe(true);
    expect(await gone(serve)).toBe(true);
    expect(run.stdout).toMatch(/^\[worker\] \{.*"msg":"worker ready"/m);
    expect(run.stdout).toMatch(/^\[serve\] \{.*"msg":"producer ready"/m);
    expect(run.stdout).toContain('[dev] stopped (worker 0, serve 0)');
  }, 90_000);

  it('starts a throwaway Redis when the given one does not answer, and goes down with a child that dies', async () => {
    const port = await freePort();
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const dev = startDev(['--redis-url', nowhere, '--port', String(port), '--models', 'iris']);
    await ready(port, dev);
    const redis = pidOfRedis(dev.output());
    const worker = pidOf(dev.output(), 'worker');
    const serve = pidOf(dev.output(), 'serve');
    expect(alive(redis)).toBe(true);

    process.kill(worker, 'SIGKILL');
    const run = await dev.exited;
    expect(run.code).toBe(128 + 9);
    expect(run.stdout).toContain('[dev] worker exited with code 137; stopping the others');
    expect(await gone(serve)).toBe(true);
    expect(await gone(redis)).toBe(true);
  }, 90_000);
});
