import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REDIS_SERVER_SETTINGS,
  createRedisClient,
  redisTarget,
  type RedisTarget,
} from '@conveyor/shared';

/** A Redis the CLI, the demo or the tests can use, and how to stop it if we started it. */
export interface RedisHandle {
  url: string;
  /** Who provides it: an existing server, a container, or a redis-server we started. */
  source: 'env' | 'container' | 'process';
  stop(): Promise<void>;
}

/** A TCP port free on the loopback interface right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * True when a Redis answers PING within a second: the server of a URL, or a target of the
 * configuration (a cluster's first reachable node, a Sentinel group's master).
 */
export async function redisAnswers(where: string | RedisTarget): Promise<boolean> {
  const probe = createRedisClient(typeof where === 'string' ? redisTarget(where) : where, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** True when a `redis-server` binary is on the PATH. */
export function hasRedisServerBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface RedisServerOptions {
  /** Port to listen on; default a free one. */
  port?: number;
  /** Extra `redis-server` arguments, e.g. ['--appendonly', 'yes']. */
  args?: string[];
  /** Data folder; default a fresh temporary one, removed on stop. */
  dir?: string;
}

/**
 * Starts a `redis-server` on a loopback port, with the settings docker-compose.yml gives Redis
 * (`noeviction`, REDIS_SERVER_SETTINGS) but no persistence, and waits until it answers; rejects
 * when it exits or stays silent for 10 s. `args` come last, and override them.
 */
export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RedisHandle & { process: ChildProcess; port: number }> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'conveyor-redis-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--maxmemory-policy',
      'noeviction',
      // As docker-compose.yml runs it: a job's hash in one listpack (see REDIS_SERVER_SETTINGS).
      ...REDIS_SERVER_SETTINGS,
      ...(options.args ?? []),
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const removeDir = () => {
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  };
  const started = Date.now();
  while (!(await redisAnswers(url))) {
    const failure =
      child.exitCode !== null
        ? `redis-server exited with code ${child.exitCode}`
        : Date.now() - started > 10_000
          ? 'redis-server did not answer within 10 s'
          : undefined;
    if (failure !== undefined) {
      child.kill('SIGKILL');
      removeDir();
      throw new Error(failure);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    process: child,
    source: 'process',
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      removeDir();
    },
  };
}
