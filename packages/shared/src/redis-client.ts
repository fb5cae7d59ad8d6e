import { createRequire } from 'node:module';
import type * as Ioredis from 'ioredis';
import type { Cluster, Redis } from 'ioredis';
import { ConveyorError } from './errors.js';
import { redisAddress } from './redis-options.js';
import type { RedisSentinelGroup, RedisTarget } from './redis-target.js';

/*
 * One way to open a Redis connection, to a single server, a Redis Cluster or the master of a
 * Sentinel group, so that every client, producer, worker and CLI command takes the same
 * configuration (REDIS_URL; REDIS_CLUSTER_NODES for a cluster; REDIS_SENTINELS and
 * REDIS_SENTINEL_NAME for Sentinel).
 */

let ioredis: typeof Ioredis | undefined;

/**
 * ioredis, loaded with the first connection (it is CommonJS, so `require` loads it at once): a
 * process that opens none, such as `conveyor --help` or an embedded client, does not pay the
 * tenth of a second its import takes.
 */
function loadIoredis(): typeof Ioredis {
  return (ioredis ??= createRequire(import.meta.url)('ioredis') as typeof Ioredis);
}

/**
 * A connection to one Redis server (a Sentinel group's master is one too) or to a Redis Cluster;
 * both speak the same commands.
 */
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
  if (target.sentinel) return sentinelClient(target.sentinel, target.db, auth, options);
  if (!target.cluster) {
    return new (loadIoredis().Redis)({
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
  return new (loadIoredis().Cluster)(
    target.cluster.map((node) => ({ host: node.host, port: node.port })),
    clusterOptions,
  );
}

/** A master READONLY error: the connection still reaches a master that Sentinel demoted. */
const DEMOTED = /^READONLY/;

/**
 * A connection to the master of a Sentinel group, asked of its sentinels at each (re)connect.
 * ioredis also subscribes to the sentinels' `+switch-master` (`failoverDetector`), so a failover
 * moves the connection at once even when the old master stays up as a replica; a write that still
 * reaches a demoted master reconnects and is sent again. `retryStrategy` also paces the rounds
 * over the sentinels while none answers (ioredis' own default retries every second, for ever).
 */
function sentinelClient(
  group: RedisSentinelGroup,
  db: number | undefined,
  auth: { username?: string; password?: string; tls?: RedisTarget['tls'] },
  options: RedisClientOptions,
): Redis {
  const { retryStrategy } = options;
  return new (loadIoredis().Redis)({
    sentinels: group.sentinels.map((node) => ({ host: node.host, port: node.port })),
    name: group.name,
    ...(db !== undefined && { db }),
    ...auth,
    // TLS (a rediss:// URL) to the master and to the sentinels alike.
    ...(auth.tls && { enableTLSForSentinelMode: true, sentinelTLS: auth.tls }),
    failoverDetector: true,
    reconnectOnError: (error: Error) => (DEMOTED.test(error.message) ? 2 : false),
    ...(retryStrategy && { sentinelRetryStrategy: (attempt: number) => retryStrategy(attempt) }),
    ...options,
  });
}

/**
 * The URL a connection names in messages, never its credentials: `redis://host:port` (`rediss`
 * with TLS), `redis+cluster://` and the masters it knows of, or `redis+sentinel://` with the
 * sentinels and the master group's name.
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
  const { host = '127.0.0.1', port = 6379, tls, sentinels, name } = client.options;
  if (sentinels && sentinels.length > 0 && name) {
    const nodes = sentinels.map((node) =>
      redisAddress({ host: node.host ?? '127.0.0.1', port: node.port ?? 26379 }),
    );
    return `${tls ? 'rediss' : 'redis'}+sentinel://${nodes.join(',')}/${name}`;
  }
  return `${tls ? 'rediss' : 'redis'}://${redisAddress({ host, port })}`;
}
