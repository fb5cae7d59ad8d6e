import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { isConveyorError, queueName, queueKey } from '@conveyor/shared';
import { freePort, startRedisServer, type RedisHandle } from '../../scripts/lib/redis-server.js';
import { ROOT, appArgs, serviceEnv } from '../../scripts/lib/worker-process.js';

/** `appendfsync` policy of a persistent Redis. */
export type Fsync = 'always' | 'everysec';

/**
 * A redis-server with the append-only file on, which a test can kill and start again on the same
 * port and folder.
 */
export interface PersistentRedis {
  readonly url: string;
  readonly port: number;
  readonly fsync: Fsync;
  /** SIGKILL: no chance to flush anything. */
  crash(): Promise<void>;
  /** SHUTDOWN: Redis fsyncs the AOF and exits. */
  shutdown(): Promise<void>;
  /** Starts redis-server again on the same port and folder; resolves when it answers. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts a redis-server with `--appendonly yes --appendfsync <fsync>` in a fresh folder (on `port`,
 * or a free one).
 */
export async function startPersistentRedis(fsync: Fsync, port?: number): Promise<PersistentRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-chaos-redis-'));
  const chosen = port ?? (await freePort());
  const args = ['--appendonly', 'yes', '--appendfsync', fsync];
  let handle: RedisHandle & { process: ChildProcess } = await startRedisServer({
    port: chosen,
    dir,
    args,
  });
  const exited = (child: ChildProcess) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: handle.url,
    port: chosen,
    fsync,
    async crash() {
      const done = exited(handle.process);
      handle.process.kill('SIGKILL');
      await done;
    },
    async shutdown() {
      const done = exited(handle.process);
      const admin = new Redis(handle.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      admin.on('error', () => undefined);
      // The connection closes under the command: no reply is the expected outcome.
      await admin.call('SHUTDOWN').catch(() => undefined);
      admin.disconnect();
      await done;
    },
    async restart() {
      handle = await startRedisServer({ port: chosen, dir, args });
    },
    async stop() {
      await handle.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Conveyor process (producer or worker) started from its build, with its JSON logs. */
export interface AppProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  /** Resolves once the process has logged `msg` (rejects if it exits first or after `timeoutMs`). */
  logged(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends a signal (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `apps/<app>/dist/main.js` as the Docker image does (the fault tests' global setup builds
 * it first: about a second sooner ready than tsx on the sources), without waiting for it to be
 * ready. `root`: another folder holding the apps (the image's layout, test/docker-image.test.ts),
 * the process's working directory too.
 */
export function startApp(
  app: 'producer' | 'worker',
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
  root?: string,
): AppProcess {
  const args = root ? [join(root, 'apps', app, 'dist', 'main.js')] : appArgs(app, 'build');
  const child = spawn(process.execPath, args, {
    cwd: root ?? ROOT,
    env: serviceEnv(redisUrl, prefix, { PRODUCER_HOST: '127.0.0.1', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (r: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const record = JSON.parse(line) as Record<string, unknown>;
      logs.push(record);
      for (const waiter of waiters.filter((w) => w.msg === record.msg)) waiter.resolve(record);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    logs,
    async logged(msg, timeoutMs = 60_000) {
      const seen = logs.find((r) => r.msg === msg);
      if (seen) return seen;
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          new Promise<Record<string, unknown>>((resolve) => waiters.push({ msg, resolve })),
          exited.then((code) => {
            // The process logs to stdout: its last records say why it stopped.
            const last = logs.slice(-5).map((r) => JSON.stringify(r));
            throw new Error(
              `${app} exited with ${code} before logging "${msg}": ${stderr}${last.join('\n')}`,
            );
          }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`${app} did not log "${msg}" within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Starts a producer on the given loopback port, or on one the system picks (port 0, named by its
 * ready line: a port chosen ahead could be taken before the producer listens), and waits for
 * `producer ready`.
 */
export async function startProducer(
  redisUrl: string,
  prefix: string,
  port?: number,
): Promise<AppProcess & { base: string; port: number }> {
  const producer = startApp('producer', redisUrl, prefix, { PRODUCER_PORT: String(port ?? 0) });
  let bound: number;
  try {
    const ready = await producer.logged('producer ready');
    bound = ready.port as number;
  } catch (error) {
    await producer.stop('SIGKILL');
    throw error;
  }
  return Object.assign(producer, { base: `http://127.0.0.1:${bound}`, port: bound });
}

/** What a queue's event stream says happened to each job: how often it went active, completed, failed. */
export async function eventsByJob(
  redisUrl: string,
  prefix: string,
  model: string,
): Promise<Map<string, { active: number; completed: number; failed: number }>> {
  const redis = new Redis(redisUrl);
  try {
    const entries = await redis.xrange(queueKey(prefix, queueName(model, '1'), 'events'), '-', '+');
    const byJob = new Map<string, { active: number; completed: number; failed: number }>();
    for (const [, fields] of entries) {
      const record: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i] ?? ''] = fields[i + 1] ?? '';
      const { event, jobId } = record;
      if (
        jobId === undefined ||
        (event !== 'active' && event !== 'completed' && event !== 'failed')
      )
        continue;
      const counts = byJob.get(jobId) ?? { active: 0, completed: 0, failed: 0 };
      counts[event] += 1;
      byJob.set(jobId, counts);
    }
    return byJob;
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` every 50 ms until it is true; rejects after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** What a client does with ERR_QUEUE_UNAVAILABLE while it reconnects: retry, every 200 ms for 15 s. */
export async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isConveyorError(error) || error.code !== 'ERR_QUEUE_UNAVAILABLE' || attempt >= 75)
        throw error;
      await sleep(200);
    }
  }
}
