import { chmodSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startInProcessWorker } from '../../../test/support/workers.js';
import { openBullQueue } from './autoscale-support.js';
import { finished, jsonLines, startCli, tempDir } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };
const poll = { timeout: 20_000, interval: 100 };

/**
 * A stand-in for the Docker CLI (there is no Docker engine here): it appends its name and
 * arguments to $FAKE_DOCKER_LOG as a JSON line, remembers the last `--scale <service>=<n>` and
 * lists that many running containers (and one exited one) for `ps --format json`, one object per
 * line as compose v2.21+ prints them. With $FAKE_DOCKER_FAIL it fails as Docker does without an
 * engine.
 */
const FAKE_DOCKER = `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
const log = process.env.FAKE_DOCKER_LOG;
fs.appendFileSync(log, JSON.stringify([path.basename(process.argv[1]), ...args]) + '\\n');
if (process.env.FAKE_DOCKER_FAIL) {
  process.stderr.write('Cannot connect to the Docker daemon at unix:///var/run/docker.sock\\n');
  process.exit(1);
}
const state = log + '.replicas';
const scale = args.indexOf('--scale');
if (scale >= 0) {
  fs.writeFileSync(state, args[scale + 1].split('=')[1]);
  process.exit(0);
}
if (args.includes('ps')) {
  const n = fs.existsSync(state) ? Number(fs.readFileSync(state, 'utf8')) : 0;
  for (let i = 1; i <= n; i++)
    process.stdout.write(JSON.stringify({ Name: 'demo-worker-' + i, Service: 'worker', State: 'running' }) + '\\n');
  process.stdout.write(JSON.stringify({ Name: 'demo-worker-old', Service: 'worker', State: 'exited' }) + '\\n');
}
`;

/** A folder with the fake `docker` and `docker-compose` and an empty log of their calls. */
function fakeDocker(): { bin: string; log: string } {
  const bin = tempDir();
  const script = join(bin, 'docker');
  writeFileSync(script, FAKE_DOCKER);
  chmodSync(script, 0o755);
  symlinkSync(script, join(bin, 'docker-compose'));
  const log = join(bin, 'calls.jsonl');
  writeFileSync(log, '');
  return { bin, log };
}

const calls = (log: string) =>
  existsSync(log) ? (jsonLines(readFileSync(log, 'utf8')) as unknown as string[][]) : [];

function startAutoscale(args: string[], docker: { bin: string; log: string }, env = {}) {
  const child = startCli(
    [
      'autoscale',
      '--model',
      'iris',
      '--interval',
      '0.2',
      '--redis-url',
      redisUrl,
      '--prefix',
      prefix,
      '--json',
      ...args,
    ],
    { env: { PATH: `${docker.bin}:${process.env.PATH}`, FAKE_DOCKER_LOG: docker.log, ...env } },
  );
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  return { child, decisions: () => jsonLines(stdout), exited: finished(child) };
}

let client: QueueClient;

beforeAll(async () => {
  // A worker announces iris and goes away: jobs for iris then wait with no live worker.
  const worker = await startInProcessWorker(redisUrl, prefix, { MODELS: 'iris' });
  await worker.close();
  client = await createClient({ redisUrl, prefix, catalogueTtlMs: 0 });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await dropPrefix(redisUrl, prefix);
});

describe('conveyor autoscale --scaler compose', () => {
  it('scales the compose service up from zero for jobs no worker serves, and back to zero once they are gone', async () => {
    for (let i = 0; i < 3; i++) await client.enqueue('iris', FLOWER);
    const docker = fakeDocker();
    const compose = ['compose', '-f', 'deploy/compose.yml', '-p', 'demo'];
    const run = startAutoscale(
      [
        '--compose-file',
        'deploy/compose.yml',
        '--project',
        'demo',
        '--service',
        'worker',
        '--max',
        '3',
        '--cooldown',
        '1',
      ],
      docker,
    );
    const ups = () => calls(docker.log).filter((c) => c.includes('up'));
    await expect.poll(() => ups().length, poll).toBe(1);
    // While the replica "starts" (no worker is live yet), it holds at 1: it adds no more.
    const starting = () => run.decisions().filter((d) => d.reason === 'starting');
    await expect.poll(() => starting().length, poll).toBeGreaterThanOrEqual(3);
    expect(ups().length).toBe(1);

    // No worker comes (the containers are fake): the jobs are taken away instead.
    const queue = await openBullQueue(redisUrl, prefix, 'iris', '1');
    await queue.drain();
    await queue.close();
    await expect.poll(() => ups().length, poll).toBe(2);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);

    expect(ups()).toEqual([
      ['docker', ...compose, 'up', '-d', '--no-recreate', '--scale', 'worker=1', 'worker'],
      ['docker', ...compose, 'up', '-d', '--no-recreate', '--scale', 'worker=0', 'worker'],
    ]);
    expect(calls(docker.log)[0]).toEqual([
      'docker',
      ...compose,
      'ps',
      '--format',
      'json',
      'worker',
    ]);
    const decisions = run.decisions();
    expect(decisions[0]).toMatchObject({
      signal: 'no-worker',
      current: 0,
      target: 1,
      action: 'up',
      reason: 'no-worker',
    });
    // The exited container is not counted.
    expect(starting().every((d) => d.current === 1)).toBe(true);
    expect(decisions.find((d) => d.action === 'down')).toMatchObject({
      signal: 'measured',
      current: 1,
      target: 0,
      reason: 'backlog-below-target',
    });
  }, 60_000);

  it('runs the legacy docker-compose binary, and with --dry-run never scales', async () => {
    await client.enqueue('iris', FLOWER);
    const docker = fakeDocker();
    const run = startAutoscale(['--legacy-compose', '--dry-run', '--min', '1'], docker);
    await expect.poll(() => run.decisions().length, poll).toBeGreaterThanOrEqual(3);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);

    for (const call of calls(docker.log))
      expect(call).toEqual([
        'docker-compose',
        '-f',
        'docker-compose.yml',
        'ps',
        '--format',
        'json',
        'worker',
      ]);
    expect(run.decisions()[0]).toMatchObject({
      current: 0,
      target: 1,
      action: 'up',
      reason: 'below-min',
      dryRun: true,
    });
  }, 60_000);

  it('reports a failing docker as ERR_SCALER_FAILED on each decision and keeps running', async () => {
    const docker = fakeDocker();
    const run = startAutoscale([], docker, { FAKE_DOCKER_FAIL: '1' });
    await expect.poll(() => run.decisions().length, poll).toBeGreaterThanOrEqual(2);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
    expect(run.decisions()[0]).toMatchObject({
      signal: 'error',
      action: 'hold',
      reason: 'error',
      error: {
        code: 'ERR_SCALER_FAILED',
        message: expect.stringContaining('Cannot connect to the Docker daemon') as unknown,
      },
    });
  }, 60_000);
});
