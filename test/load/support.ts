/**
 * Pieces of the load tests: a real producer process, an HTTP client that classifies every
 * outcome (status, connection error, timeout), and memory samples of processes and Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request, type Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/redis-server.js';
import { ROOT, appArgs, serviceEnv } from '../../scripts/lib/worker-process.js';

/** A producer (`apps/producer/dist/main.js`) as a child process, listening on a loopback port. */
export interface ProducerProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Log records of level warn or above, and stderr lines, seen so far. */
  problems: string[];
  stop(): Promise<number | null>;
}

/**
 * Starts the producer from its build, as the Docker image does (the load tests' global setup
 * builds it first), with LOG_LEVEL warn (so 20 000 requests do not write 40 000 log lines) and
 * the rate limit off, and resolves once `GET /v2/health/live` answers 200.
 */
export async function spawnProducer(
  redisUrl: string,
  prefix: string,
  env: Record<string, string> = {},
): Promise<ProducerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, appArgs('producer', 'build'), {
    cwd: ROOT,
    env: serviceEnv(redisUrl, prefix, {
      PRODUCER_HOST: '127.0.0.1',
      PRODUCER_PORT: String(port),
      LOG_LEVEL: 'warn',
      // One test client sends thousands of requests a second from one address: these tests
      // measure the queue's back-pressure and memory, not the per-client rate limit.
      RATE_LIMIT_MAX: '0',
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const problems: string[] = [];
  const keep = (line: string) => {
    if (line.trim() === '') return;
    problems.push(line.slice(0, 500));
    if (problems.length > 100) problems.shift();
  };
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    lines.forEach(keep);
  });
  child.stderr?.on('data', (chunk: Buffer) => chunk.toString('utf8').split('\n').forEach(keep));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`the producer exited with ${child.exitCode}: ${problems.join('\n')}`);
    }
    const live = await send({ method: 'GET', url: `${url}/v2/health/live`, timeoutMs: 1000 });
    if (live.kind === 'response' && live.status === 200) break;
    if (Date.now() - started > 60_000) {
      child.kill('SIGKILL');
      throw new Error(`the producer did not answer within 60 s: ${problems.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    child,
    url,
    problems,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** One HTTP exchange as the load tests count it. */
export type Outcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; body: string }
  | { kind: 'timeout' }
  | { kind: 'connection-error'; message: string };

export interface SendOptions {
  method: 'GET' | 'POST';
  url: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Gives up (outcome `timeout`) after this many ms without a complete answer. */
  timeoutMs: number;
  agent?: Agent;
}

/** Sends one request; never rejects: failures are outcomes to count. */
export function send(options: SendOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const req = request(
      options.url,
      {
        method: options.method,
        headers: {
          ...(options.body !== undefined && {
            'content-length': String(Buffer.byteLength(options.body)),
          }),
          ...options.headers,
        },
        ...(options.agent && { agent: options.agent }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => done({ kind: 'connection-error', message: err.message }));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers))
            if (value !== undefined)
              headers[name] = Array.isArray(value) ? value.join(', ') : value;
          done({
            kind: 'response',
            status: res.statusCode ?? 0,
            headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    const timer = setTimeout(() => {
      done({ kind: 'timeout' });
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (err) => done({ kind: 'connection-error', message: err.message }));
    req.end(options.body);
  });
}

/** Runs `task(i)` for i in [0, count), at most `concurrency` at once. */
export async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Resident set size of a process in bytes, from `/proc/<pid>/status` (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** One read of `used_memory` less the clients' buffers (see redisUsedMemory). */
async function usedLessClients(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:(\\d+)\\r?$`, 'm').exec(info);
    if (!match?.[1]) throw new Error(`INFO memory has no ${name}`);
    return Number(match[1]);
  };
  return field('used_memory') - field('mem_clients_normal');
}

/**
 * `used_memory` of `INFO memory` less the clients' query and output buffers, in bytes: what Redis
 * keeps. Those buffers rise and fall with whatever is in flight at the instant of the sample (a
 * pipelined bulk of images), and so, for a moment, does memory a running script or a command
 * holds; the least of three reads 50 ms apart leaves such moments out. Memory Redis keeps is in
 * all three.
 */
export async function redisUsedMemory(redis: Redis): Promise<number> {
  const reads: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(50);
    reads.push(await usedLessClients(redis));
  }
  return Math.min(...reads);
}

/** Every key matching a pattern, by SCAN. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Bytes Redis holds for the keys of one prefix (MEMORY USAGE of each, summed), and their count. */
export async function prefixMemory(
  redis: Redis,
  prefix: string,
): Promise<{ keys: number; bytes: number }> {
  const keys = await scanKeys(redis, `${prefix}:*`);
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.memory('USAGE', key, 'SAMPLES', '0');
  const replies = (await pipeline.exec()) ?? [];
  let bytes = 0;
  for (const [err, value] of replies) if (!err && typeof value === 'number') bytes += value;
  return { keys: keys.length, bytes };
}

export const MiB = 2 ** 20;

/** Bytes as MiB with one decimal, for summaries. */
export const mib = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

/** Writes a summary line for the person running the load tests (console is reserved for errors). */
export function report(line: string): void {
  process.stdout.write(`${line}\n`);
}
