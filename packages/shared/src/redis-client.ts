import { Cluster, Redis } from 'ioredis';
import { ConveyorError } from './errors.js';
import { redisAddress } from './redis-options.js';
import type { RedisTarget } from './redis-target.js';

/*
 * One way to open a Redis connection, to a single server or to a Redis Cluster, so that every
 * client, producer, worker and CLI command takes the same configuration (REDIS_URL, and
 * REDIS_CLUSTER_NODES for a cluster).
 */

/** A connection to one Redis server or to a Redis Cluster; both speak the same commands. */
export type RedisClient = Redis | Cluster;

/** Whether a connection is to a Redis Cluster. */
export function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/**
 * The connections that hold keys: the cluster's masters, or the server itself. A SCAN or KEYS
 * sees only the keys of the node it runs on, so a cluster-wide scan runs on each of these.
 */
export function keyHolders(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

/** The connection options Conveyor sets (see redisOptions); plain ioredis options. */
export interface RedisClientOptions {
  maxRetriesPerRequest?: number | null;
  enableOfflineQueue?: boolean;
  commandTimeout?: number;
  connectTimeout?: number;
  retryStrategy?: (attempt: number) => number | null;
  connectionName?: string;
  lazyConnect?: boolean;
  /** Read by BullMQ from the connection's options (see redisOptions). */
  skipVersionCheck?: boolean;
}

/**
 * A connection to `target` with `options` (see redisOptions for the ones BullMQ needs). For a
 * cluster, the per-node options go to each node's connection and the reconnect strategy to the
 * cluster; ioredis' auto-pipelining stays off (BullMQ's scripts misbehave with it).
 */
export function createRedisClient(
  target: RedisTarget,
  options: RedisClientOptions = {},
): RedisClient {
  const auth = {
    ...(target.username !== undefined && { username: target.username }),
    ...(target.password !== undefined && { password: target.password }),
    ...(target.tls !== undefined && { tls: target.tls }),
  };
  if (!target.cluster) {
    return new Redis({
      host: target.host,
      port: target.port,
      ...(target.db !== undefined && { db: target.db }),
      ...auth,
      ...options,
    });
  }
  if (target.db !== undefined && target.db !== 0)
    throw new ConveyorError(
      'ERR_CONFIG_INVALID',
      `a Redis Cluster has only database 0; drop /${target.db} from the Redis URL`,
    );
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = options;
  const clusterOptions = {
    redisOptions: { ...auth, ...perNode },
    enableAutoPipelining: false,
    // Replicas can lag their master; every read goes to the master, as with a single server.
    scaleReads: 'master' as const,
    ...(retryStrategy && { clusterRetryStrategy: (attempt: number) => retryStrategy(attempt) }),
    ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
    ...(lazyConnect !== undefined && { lazyConnect }),
  };
  return new Cluster(
    target.cluster.map((node) => ({ host: node.host, port: node.port })),
    clusterOptions,
  );
}

/**
 * The URL a connection names in messages, never its credentials: `redis://host:port` (`rediss`
 * with TLS), or `redis+cluster://` and the masters it knows of.
 */
export function clientUrl(client: RedisClient): string {
  if (isCluster(client)) {
    const nodes = client
      .nodes('master')
      .map(({ options }) =>
        redisAddress({ host: options.host ?? '127.0.0.1', port: options.port ?? 6379 }),
      );
    return `redis+cluster://${nodes.join(',')}`;
  }
  const { host = '127.0.0.1', port = 6379, tls } = client.options;
  return `${tls ? 'rediss' : 'redis'}://${redisAddress({ host, port })}`;
}
