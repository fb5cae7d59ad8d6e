import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/redis-server.js';

/** The master group name the local sentinels watch. */
export const SENTINEL_MASTER = 'conveyor-test';

/** One redis-server of a local Sentinel setup: a data node or a sentinel. */
export interface SentinelSetupProcess {
  role: 'master' | 'replica' | 'sentinel';
  port: number;
  process: ChildProcess;
}

/** A master, its replica and three sentinels: real redis-server processes on loopback. */
export interface LocalSentinels {
  processes: SentinelSetupProcess[];
  /** `127.0.0.1:<port>` of every sentinel, for REDIS_SENTINELS. */
  sentinels: string[];
  /** The port of the master the sentinels name now. */
  masterPort(): Promise<number>;
  /** Kills (SIGKILL) the data node on `port` and resolves once it has exited. */
  kill(port: number): Promise<void>;
  /**
   * Resolves with the new master's port once a majority of the live sentinels name a master other
   * than `formerPort` and that node says it is a master.
   */
  waitPromoted(formerPort: number, timeoutMs: number): Promise<number>;
  /**
   * The clients subscribed to a channel on the live sentinels, in all: the failover subscriptions
   * of the Sentinel connections open (sentinels subscribe to none of each other's channels).
   */
  subscribers(): Promise<number>;
  stop(): Promise<void>;
}

const live = (p: SentinelSetupProcess) =>
  p.process.exitCode === null && p.process.signalCode === null;

function startServer(
  role: SentinelSetupProcess['role'],
  port: number,
  dir: string,
  args: string[],
) {
  const base = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  const child = spawn('redis-server', [...args, ...base], { stdio: 'ignore' });
  return { role, port, process: child };
}

/**
 * A sentinel.conf for one sentinel (a sentinel rewrites its own file, so each gets one): the
 * master is down after 1 s of silence, instead of the default 30 s, and a failover may take 5 s.
 */
function sentinelConf(dir: string, port: number, masterPort: number): string {
  const file = join(dir, `sentinel-${port}.conf`);
  const lines = [
    `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${masterPort} 2`,
    `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
    `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
    `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Runs `work` on a short-lived connection to `port`; undefined when the node does not answer. */
async function ask<T>(port: number, work: (r: Redis) => Promise<T>): Promise<T | undefined> {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await work(r);
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const masterOf = (sentinel: number) =>
  ask(sentinel, async (r) => {
    const reply = (await r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER)) as
      string[] | null;
    return reply?.[1] === undefined ? undefined : Number(reply[1]);
  });

const roleOf = (port: number) =>
  ask(port, async (r) => /role:(\w+)/.exec(await r.info('replication'))?.[1]);

/**
 * Starts a master, one replica of it and three sentinels (`redis-server --sentinel`) on free
 * loopback ports, and resolves once the replica has synced and every sentinel sees both.
 */
export async function startLocalSentinels(): Promise<LocalSentinels> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-sentinel-'));
  const ports: number[] = [];
  while (ports.length < 5) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const [master = 0, replica = 0, ...sentinelPorts] = ports;
  // A replica syncs at once rather than after the default 5 s wait for more replicas.
  const sync = ['--repl-diskless-sync-delay', '0'];
  const processes: SentinelSetupProcess[] = [
    startServer('master', master, dir, sync),
    startServer('replica', replica, dir, [...sync, '--replicaof', '127.0.0.1', String(master)]),
  ];
  const stop = async () => {
    await Promise.all(
      processes.filter(live).map(async (p) => {
        const exited = new Promise((resolve) => p.process.once('exit', resolve));
        p.process.kill('SIGKILL');
        await Promise.race([exited, sleep(5000)]);
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until('the master did not answer', 10_000, () => roleOf(master));
    await until('the replica did not sync', 20_000, () =>
      ask(replica, async (r) =>
        (await r.info('replication')).includes('master_link_status:up') ? true : undefined,
      ),
    );
    for (const port of sentinelPorts)
      processes.push(
        startServer('sentinel', port, dir, [sentinelConf(dir, port, master), '--sentinel']),
      );
    // Each sentinel has found the replica (through the master) and the other sentinels.
    for (const port of sentinelPorts)
      await until('the sentinels did not find each other', 30_000, () =>
        ask(port, async (r) => {
          const [info] = (await r.call('SENTINEL', 'masters')) as string[][];
          const field = (name: string) => Number(info?.[(info?.indexOf(name) ?? -2) + 1]);
          return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2 ? true : undefined;
        }),
      );
  } catch (error) {
    await stop();
    throw error;
  }
  const liveSentinels = () => processes.filter((p) => p.role === 'sentinel' && live(p));
  return {
    processes,
    sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`),
    masterPort: () =>
      until('no sentinel named a master', 10_000, async () => {
        for (const s of liveSentinels()) {
          const port = await masterOf(s.port);
          if (port !== undefined) return port;
        }
        return undefined;
      }),
    async kill(port) {
      const node = processes.find((p) => p.port === port && p.role !== 'sentinel');
      if (!node || !live(node)) return;
      const exited = new Promise((resolve) => node.process.once('exit', resolve));
      node.process.kill('SIGKILL');
      await exited;
    },
    waitPromoted: (formerPort, timeoutMs) =>
      until('no replica was promoted', timeoutMs, async () => {
        const named = await Promise.all(liveSentinels().map((s) => masterOf(s.port)));
        const candidate = named.find((port) => port !== undefined && port !== formerPort);
        if (candidate === undefined) return undefined;
        const agree = named.filter((port) => port === candidate).length;
        if (agree * 2 <= named.length) return undefined;
        return (await roleOf(candidate)) === 'master' ? candidate : undefined;
      }),
    async subscribers() {
      let count = 0;
      for (const s of liveSentinels()) {
        const list = await ask(
          s.port,
          (r) => r.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as Promise<string>,
        );
        if (list === undefined) throw new Error(`the sentinel on port ${s.port} did not answer`);
        count += list.split('\n').filter((line) => line.trim() !== '').length;
      }
      return count;
    },
    stop,
  };
}
