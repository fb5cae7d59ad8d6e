import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@conveyor/sdk';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../src/redis-server.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { alive, finished, runCli, startCli, tempDir, type CliRun } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();

/**
 * Starts `conveyor dev` in a folder of its own (it writes .conveyor/dev.json there), collecting
 * its output as it comes.
 */
function startDev(
  args: string[],
  cwd = tempDir(),
): {
  child: ChildProcess;
  output: () => string;
  /** Its standard error so far: why it stopped, when it stopped early. */
  errors: () => string;
  exited: Promise<CliRun>;
} {
  const child = startCli(['dev', ...args], { env: { LOG_LEVEL: 'info' }, cwd });
  let output = '';
  let errors = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString('utf8')));
  return { child, output: () => output, errors: () => errors, exited: finished(child) };
}

/** Waits until the producer is ready and its worker serves iris (the producer is ready first). */
async function ready(
  port: number,
  dev: { child: ChildProcess; output: () => string; errors: () => string },
): Promise<Response> {
  for (;;) {
    // A dev that stopped early says why in its output.
    expect(dev.child.exitCode, `${dev.output()}\n${dev.errors()}`).toBeNull();
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

  it('records its Redis in .conveyor/dev.json: predict and createClient() run from that folder use it; it is gone on exit', async () => {
    const dir = tempDir();
    const port = await freePort();
    const dev = startDev(['--port', String(port), '--models', 'iris', '--prefix', 'devloop'], dir);
    await ready(port, dev);
    const statePath = join(dir, '.conveyor', 'dev.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as { redisUrl: string };
    expect(state).toMatchObject({
      redisUrl: expect.stringMatching(/^redis:\/\/127\.0\.0\.1:\d+$/) as unknown,
      prefix: 'devloop',
      producerUrl: `http://127.0.0.1:${port}`,
      pid: dev.child.pid,
    });
    expect(dev.output()).toContain(
      `[dev]   export REDIS_URL=${state.redisUrl}; export REDIS_KEY_PREFIX=devloop`,
    );

    // A second terminal: no flag, no REDIS_URL, the same folder.
    const predict = await runCli(['predict', 'iris', '--input', '[[5.1, 3.5, 1.4, 0.2]]'], {
      cwd: dir,
    });
    expect(predict.stderr).toContain(
      `conveyor: using Redis ${state.redisUrl} (prefix devloop) of the \`conveyor dev\` running here (pid ${dev.child.pid}`,
    );
    expect(predict.code).toBe(0);
    expect(JSON.parse(predict.stdout)).toMatchObject({ model: 'iris', outputs: {} });

    // A flag still wins, and the error names the Redis and prefix it looked at.
    const elsewhere = await runCli(
      ['predict', 'iris', '--prefix', 'nobody', '--input', '[[1, 2, 3, 4]]'],
      {
        cwd: dir,
      },
    );
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(
      `ERR_MODEL_NOT_FOUND: no worker has announced a model named "iris" on ${state.redisUrl} (key prefix "nobody"): start a worker`,
    );

    // The SDK's defaults find it too, from the working directory only.
    const home = process.cwd();
    process.chdir(dir);
    const client = await createClient().finally(() => process.chdir(home));
    try {
      const result = await client.predict('iris', { features: [[6.7, 3.0, 5.2, 2.3]] });
      expect(result.model).toBe('iris');
    } finally {
      await client.close();
    }

    dev.child.kill('SIGTERM');
    expect((await dev.exited).code).toBe(0);
    expect(existsSync(statePath)).toBe(false);
  }, 90_000);

  it('refuses --models naming a model the repository does not have, before starting anything', async () => {
    const dir = tempDir();
    const run = await runCli(['dev', '--models', 'iris,nope'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^conveyor: ERR_MODEL_NOT_FOUND: --models \(MODELS\) names a model the model repository \S+ does not have: "nope"; it has: .*iris/,
    );
    expect(existsSync(join(dir, '.conveyor'))).toBe(false);

    const worker = await runCli(['worker', '--models', 'nope'], {
      cwd: dir,
      env: { LOG_LEVEL: 'info', REDIS_URL: redisUrl },
    });
    expect(worker.code).toBe(2);
    expect(worker.stdout).not.toContain('worker ready');
    expect(worker.stderr).toMatch(/does not have: "nope"; it has: .*iris/);
  });

  it('refuses a Sentinel group or a cluster, which it cannot run on, before starting anything', async () => {
    for (const [env, names] of [
      [{ REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'mymaster' }, 'Sentinel group'],
      [{ REDIS_URL: 'redis+cluster://127.0.0.1:7000' }, 'Redis Cluster'],
    ] as const) {
      const dir = tempDir();
      const run = await runCli(['dev'], { cwd: dir, env });
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        `ERR_USAGE: conveyor dev runs on one Redis server, and this configuration names a ${names}`,
      );
      expect(existsSync(join(dir, '.conveyor'))).toBe(false);
    }
  });
});
