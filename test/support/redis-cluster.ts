import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/redis-server.js';

/** One redis-server of a local cluster. */
export interface ClusterNodeProcess {
  port: number;
  process: ChildProcess;
}

/** A Redis Cluster of real redis-server processes on loopback: masters and one replica each. */
export interface LocalCluster {
  nodes: ClusterNodeProcess[];
  /** `127.0.0.1:<port>` of every node, for REDIS_CLUSTER_NODES. */
  seeds: string[];
  /** A direct connection to one node (CLUSTER commands). */
  admin(port: number): Redis;
  /** The port of the master that serves a key's slot now. */
  masterOf(key: string): Promise<number>;
  /** Resolves once every live node reports cluster_state:ok (after a failover: a new master). */
  waitHealthy(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

function startNode(port: number, dir: string): ClusterNodeProcess {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${port}.conf`),
      // A dead master is failed over after 2 s instead of the default 15.
      '--cluster-node-timeout',
      '2000',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      // A replica syncs at once rather than after the default 5 s wait for more replicas.
      '--repl-diskless-sync-delay',
      '0',
    ],
    { stdio: 'ignore' },
  );
  return { port, process: child };
}

async function answers(port: number): Promise<boolean> {
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
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

/**
 * Starts `masters` × 2 redis-server processes with cluster mode on free loopback ports and joins
 * them with `redis-cli --cluster create … --cluster-replicas 1`.
 */
export async function startLocalCluster(masters = 3): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-cluster-'));
  const ports: number[] = [];
  while (ports.length < masters * 2) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const nodes = ports.map((port) => startNode(port, dir));
  const admins: Redis[] = [];
  const admin = (port: number) => {
    const connection = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    connection.on('error', () => undefined);
    admins.push(connection);
    return connection;
  };
  const live = () =>
    nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);
  const stop = async () => {
    admins.forEach((a) => a.disconnect());
    await Promise.all(
      nodes.map(async (node) => {
        if (node.process.exitCode !== null || node.process.signalCode !== null) return;
        const exited = new Promise((resolve) => node.process.once('exit', resolve));
        node.process.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const node of nodes) {
      for (let i = 0; i < 100 && !(await answers(node.port)); i++) await sleep(50);
    }
    const created = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create: ${created.stdout}`);
  } catch (error) {
    await stop();
    throw error;
  }
  const cluster: LocalCluster = {
    nodes,
    seeds: ports.map((p) => `127.0.0.1:${p}`),
    admin,
    async masterOf(key) {
      const [node] = live();
      if (!node) throw new Error('no live node');
      const connection = admin(node.port);
      const slot = await connection.cluster('KEYSLOT', key);
      const slots = await connection.cluster('SLOTS');
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no node serves slot ${slot}`);
      const [, , master] = range;
      if (!master) throw new Error(`slot ${slot} has no master`);
      return master[1];
    },
    async waitHealthy(timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(
          live().map(async (node) => {
            const info = await admin(node.port)
              .cluster('INFO')
              .catch(() => '');
            return info.includes('cluster_state:ok');
          }),
        );
        admins.splice(0).forEach((a) => a.disconnect());
        if (states.every(Boolean)) return;
        if (Date.now() > until) throw new Error('the cluster did not become healthy in time');
        await sleep(200);
      }
    },
    stop,
  };
  try {
    await cluster.waitHealthy(30_000);
    // A replica that never synced with its master refuses to take over from it.
    const until = Date.now() + 30_000;
    for (const node of nodes) {
      for (;;) {
        const info = await admin(node.port).info('replication');
        if (!info.includes('role:slave') || info.includes('master_link_status:up')) break;
        if (Date.now() > until) throw new Error(`replica ${node.port} did not sync in time`);
        await sleep(100);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return cluster;
}
