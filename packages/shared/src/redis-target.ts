import type { ConnectionOptions as TlsOptions } from 'node:tls';

/** One `host:port` of a Redis Cluster. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Where a connection goes: a server (host, port, database), or a cluster's seed nodes. */
export interface RedisTarget {
  host: string;
  port: number;
  db?: number;
  username?: string;
  password?: string;
  tls?: TlsOptions;
  /** Seed nodes of a Redis Cluster; when set, `host`, `port` and `db` are not used. */
  cluster?: readonly RedisNode[];
}

const NODE = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/;

/** `host:port` (or `[v6]:port`) as a node; undefined when it is not one. */
export function parseRedisNode(text: string): RedisNode | undefined {
  const match = NODE.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65_535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

/**
 * Host, port, database, credentials and TLS (`rediss://`) of a Redis URL; with `cluster`, the
 * URL supplies only the credentials and TLS, and the nodes where the cluster is found.
 */
export function redisTarget(url: string, cluster?: readonly RedisNode[]): RedisTarget {
  const parsed = new URL(url);
  const target: RedisTarget = {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
  };
  const db = parsed.pathname.slice(1);
  if (db !== '') target.db = Number(db);
  if (parsed.username !== '') target.username = decodeURIComponent(parsed.username);
  if (parsed.password !== '') target.password = decodeURIComponent(parsed.password);
  if (parsed.protocol.toLowerCase() === 'rediss:') target.tls = {};
  if (cluster && cluster.length > 0) target.cluster = cluster;
  return target;
}

/** `host:port` of a target for messages (the first seed node of a cluster), never credentials. */
export function targetAddress(target: RedisTarget): string {
  const node = formatRedisNode(target.cluster?.[0] ?? target);
  return target.cluster ? `${node} (cluster)` : node;
}

/** `host:port` of a node, as parseRedisNode reads it (`[v6]:port` for an IPv6 address). */
export function formatRedisNode(node: RedisNode): string {
  return node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
}

/** The target of a process's configuration: REDIS_URL, and REDIS_CLUSTER_NODES when set. */
export function configTarget(config: {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES?: readonly RedisNode[] | undefined;
}): RedisTarget {
  return redisTarget(config.REDIS_URL, config.REDIS_CLUSTER_NODES);
}

/** The SDK client's `redisUrl` and `clusterNodes` for a process's configuration. */
export function clientRedisOf(config: {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES?: readonly RedisNode[] | undefined;
}): { redisUrl: string; clusterNodes?: string[] } {
  const nodes = config.REDIS_CLUSTER_NODES;
  return nodes
    ? { redisUrl: config.REDIS_URL, clusterNodes: nodes.map(formatRedisNode) }
    : { redisUrl: config.REDIS_URL };
}
