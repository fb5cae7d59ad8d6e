import type { ConnectionOptions as TlsOptions } from 'node:tls';

/** One `host:port` of a Redis Cluster or of a Redis Sentinel. */
export interface RedisNode {
  host: string;
  port: number;
}

/** A master that Redis Sentinel watches: the sentinels to ask, and the name of its master group. */
export interface RedisSentinelGroup {
  sentinels: readonly RedisNode[];
  name: string;
}

/**
 * What serves the data when it is not the one server of a Redis URL: a Redis Cluster (its seed
 * nodes) or a Sentinel-managed master. The URL then gives only the credentials and TLS (and, for
 * Sentinel, the database number).
 */
export type RedisTopology = readonly RedisNode[] | RedisSentinelGroup;

/** Where a connection goes: a server (host, port, database), a cluster, or a Sentinel group. */
export interface RedisTarget {
  host: string;
  port: number;
  db?: number;
  username?: string;
  password?: string;
  tls?: TlsOptions;
  /** Seed nodes of a Redis Cluster; when set, `host`, `port` and `db` are not used. */
  cluster?: readonly RedisNode[];
  /** The Sentinel group whose master to use; when set, `host` and `port` are not used. */
  sentinel?: RedisSentinelGroup;
}

const NODE = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/;

/** `host:port` (or `[v6]:port`) as a node; undefined when it is not one. */
export function parseRedisNode(text: string): RedisNode | undefined {
  const match = NODE.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65_535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

/** Whether a topology is a Sentinel group (else a cluster's seed nodes). */
export function isSentinelGroup(topology: RedisTopology): topology is RedisSentinelGroup {
  return !Array.isArray(topology);
}

/**
 * Host, port, database, credentials and TLS (`rediss://`) of a Redis URL; with a `topology`, the
 * URL supplies only the credentials, TLS and (for Sentinel) the database, and the topology says
 * where the data is: a cluster's seed nodes, or the sentinels that name the master.
 */
export function redisTarget(url: string, topology?: RedisTopology): RedisTarget {
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
  if (topology === undefined) return target;
  if (isSentinelGroup(topology)) target.sentinel = topology;
  else if (topology.length > 0) target.cluster = topology;
  return target;
}

/**
 * `host:port` of a target for messages, never credentials: the first seed node of a cluster, or
 * the master group's name and its first sentinel.
 */
export function targetAddress(target: RedisTarget): string {
  if (target.sentinel) {
    const first = target.sentinel.sentinels[0];
    return `${target.sentinel.name} (sentinel ${first ? formatRedisNode(first) : '?'})`;
  }
  const node = formatRedisNode(target.cluster?.[0] ?? target);
  return target.cluster ? `${node} (cluster)` : node;
}

/** `host:port` of a node, as parseRedisNode reads it (`[v6]:port` for an IPv6 address). */
export function formatRedisNode(node: RedisNode): string {
  return node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
}

/** The Redis settings of a process's configuration (see ConfigSchema). */
export interface RedisConfig {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES?: readonly RedisNode[] | undefined;
  readonly REDIS_SENTINELS?: readonly RedisNode[] | undefined;
  readonly REDIS_SENTINEL_NAME?: string | undefined;
}

/** The cluster or Sentinel group of a process's configuration; undefined for one server. */
export function configTopology(config: RedisConfig): RedisTopology | undefined {
  if (config.REDIS_SENTINELS && config.REDIS_SENTINEL_NAME !== undefined)
    return { sentinels: config.REDIS_SENTINELS, name: config.REDIS_SENTINEL_NAME };
  return config.REDIS_CLUSTER_NODES;
}

/** The target of a process's configuration: REDIS_URL, with its cluster or Sentinel group. */
export function configTarget(config: RedisConfig): RedisTarget {
  return redisTarget(config.REDIS_URL, configTopology(config));
}

/** The SDK client's `redisUrl`, and `clusterNodes` or `sentinels`, for a process's configuration. */
export function clientRedisOf(config: RedisConfig): {
  redisUrl: string;
  clusterNodes?: string[];
  sentinels?: string[];
  sentinelName?: string;
} {
  const topology = configTopology(config);
  if (topology === undefined) return { redisUrl: config.REDIS_URL };
  if (isSentinelGroup(topology))
    return {
      redisUrl: config.REDIS_URL,
      sentinels: topology.sentinels.map(formatRedisNode),
      sentinelName: topology.name,
    };
  return { redisUrl: config.REDIS_URL, clusterNodes: topology.map(formatRedisNode) };
}

/** A master group name as Sentinel configurations use them (`mymaster`, `redis-prod`). */
export const SENTINEL_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A Redis URL that names a topology, split into a plain URL and the topology's settings. */
export interface TopologyUrl {
  /** `redis://` or `rediss://` with the credentials, the first node and the database. */
  url: string;
  cluster?: string[];
  sentinels?: string[];
  sentinelName?: string;
}

const TOPOLOGY_URL = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?$/i;

/**
 * Reads `redis+sentinel://[user:pass@]host:port,host:port/<master>[/<db>]` and
 * `redis+cluster://[user:pass@]host:port,host:port` (`rediss+…` for TLS): undefined when `text`
 * is not such a URL, a message when it is one with a mistake.
 */
export function parseTopologyUrl(text: string): TopologyUrl | string | undefined {
  const match = TOPOLOGY_URL.exec(text.trim());
  if (!match) return undefined;
  const [, scheme = 'redis', kind = '', auth, list = '', path = ''] = match;
  const nodes = list.split(',').map((entry) => entry.trim());
  if (nodes.some((node) => parseRedisNode(node) === undefined))
    return `the nodes of a ${scheme}+${kind}:// URL are host:port, comma-separated`;
  const segments = path.split('/').filter(Boolean);
  const sentinel = kind.toLowerCase() === 'sentinel';
  const [name, db, ...rest] = sentinel ? segments : ['', ...segments];
  if (sentinel && (name === undefined || !SENTINEL_NAME.test(decodeURIComponent(name))))
    return 'a redis+sentinel:// URL ends with the master group name: redis+sentinel://host:port,host:port/mymaster';
  if (rest.length > 0 || (db !== undefined && !/^\d{1,2}$/.test(db)))
    return sentinel
      ? 'after the master group name a redis+sentinel:// URL may only have a database number (/mymaster/2)'
      : 'a redis+cluster:// URL has no path (a Redis Cluster has only database 0)';
  const url = `${scheme.toLowerCase()}://${auth !== undefined ? `${auth}@` : ''}${nodes[0]}${db !== undefined ? `/${db}` : ''}`;
  if (!URL.canParse(url))
    return `the user name and password of a ${scheme}+${kind}:// URL are not valid`;
  return sentinel
    ? { url, sentinels: nodes, sentinelName: decodeURIComponent(name ?? '') }
    : { url, cluster: nodes };
}
