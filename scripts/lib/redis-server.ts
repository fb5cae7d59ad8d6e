import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A Redis the tests (or the demo) can use, and how to stop it if we started it. */
export interface RedisHandle {
  url: string;
  /** Who provides it: an existing server, a container, or a redis-server we started. */
  source: 'env' | 'container' | 'process';
  stop(): Promise<void>;
}

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

/** True when a Redis answers PING at the URL within a second. */
export async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
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

export function hasRedisServerBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface RedisServerOptions {
  port?: number;
  /** Extra `redis-server` arguments, e.g. ['--appendonly', 'yes']. */
  args?: string[];
  /** Data folder; default a fresh temporary one, removed on stop. */
  dir?: string;
}

/** Starts a `redis-server` on a free loopback port and waits until it answers. */
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
      ...(options.args ?? []),
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const started = Date.now();
  while (!(await redisAnswers(url))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    if (Date.now() - started > 10_000) throw new Error('redis-server did not answer within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    process: child,
    source: 'process',
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function dockerAnswers(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status === 0;
}

/**
 * Provides a Redis: REDIS_URL when it is set and answers; otherwise the official image through
 * testcontainers where a Docker engine answers; otherwise a `redis-server` started on a free port.
 */
export async function provideRedis(envUrl: string | undefined): Promise<RedisHandle> {
  if (envUrl) {
    if (await redisAnswers(envUrl))
      return { url: envUrl, source: 'env', stop: () => Promise.resolve() };
    throw new Error(
      `REDIS_URL is set to ${envUrl.replace(/:[^:@/]*@/, ':***@')} but nothing answers there`,
    );
  }
  if (dockerAnswers()) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine')
      .withCommand(['redis-server', '--maxmemory-policy', 'noeviction'])
      .start();
    return {
      url: container.getConnectionUrl(),
      source: 'container',
      stop: async () => void (await container.stop()),
    };
  }
  if (hasRedisServerBinary()) return startRedisServer();
  throw new Error(
    'no Redis: set REDIS_URL, start Docker, or install redis-server (apt-get install -y redis-server)',
  );
}
