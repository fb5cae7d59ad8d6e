import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { isConveyorError, type ErrorIssue } from './errors.js';
import { clientUrl, createRedisClient, isCluster } from './redis-client.js';
import {
  clientRedisOf,
  configTarget,
  parseTopologyUrl,
  redisTarget,
  targetAddress,
} from './redis-target.js';

function configIssues(env: Record<string, string>): readonly ErrorIssue[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (isConveyorError(error) && error.code === 'ERR_CONFIG_INVALID') return error.issues;
    throw error;
  }
  return [];
}

const SENTINELS = {
  REDIS_SENTINELS: '10.0.0.5:26379, 10.0.0.6:26379',
  REDIS_SENTINEL_NAME: 'mymaster',
};

describe('Redis Sentinel configuration', () => {
  it('reads REDIS_SENTINELS and REDIS_SENTINEL_NAME into a Sentinel target', () => {
    const config = loadConfig({ ...SENTINELS, REDIS_URL: 'rediss://app:s3cret@ignored:6379/2' });
    expect(config.REDIS_SENTINELS).toEqual([
      { host: '10.0.0.5', port: 26379 },
      { host: '10.0.0.6', port: 26379 },
    ]);
    const target = configTarget(config);
    expect(target).toMatchObject({
      sentinel: { name: 'mymaster', sentinels: config.REDIS_SENTINELS },
      db: 2,
      username: 'app',
      password: 's3cret',
      tls: {},
    });
    expect(target.cluster).toBeUndefined();
    expect(targetAddress(target)).toBe('mymaster (sentinel 10.0.0.5:26379)');
    expect(clientRedisOf(config)).toEqual({
      redisUrl: config.REDIS_URL,
      sentinels: ['10.0.0.5:26379', '10.0.0.6:26379'],
      sentinelName: 'mymaster',
    });
  });

  it('refuses sentinels without a master name, and a name without sentinels', () => {
    expect(configIssues({ REDIS_SENTINELS: '10.0.0.5:26379' }).map((i) => i.path)).toEqual([
      'REDIS_SENTINEL_NAME',
    ]);
    expect(configIssues({ REDIS_SENTINEL_NAME: 'mymaster' }).map((i) => i.path)).toEqual([
      'REDIS_SENTINELS',
    ]);
    expect(configIssues({ ...SENTINELS, REDIS_SENTINEL_NAME: 'my master' })).toHaveLength(1);
    expect(configIssues({ ...SENTINELS, REDIS_SENTINELS: '10.0.0.5' })).toHaveLength(1);
  });

  it('refuses Sentinel and a Redis Cluster together, with every other problem', () => {
    const issues = configIssues({
      ...SENTINELS,
      REDIS_CLUSTER_NODES: '10.0.0.7:6379',
      WORKER_CONCURRENCY: 'many',
    });
    expect(issues.map((i) => i.path).sort()).toEqual(['REDIS_SENTINELS', 'WORKER_CONCURRENCY']);
    expect(issues.find((i) => i.path === 'REDIS_SENTINELS')?.message).toContain(
      'REDIS_CLUSTER_NODES',
    );
  });
});

describe('redis+sentinel:// and redis+cluster:// URLs', () => {
  it('splits a Sentinel URL into the plain URL, the sentinels and the master name', () => {
    expect(parseTopologyUrl('redis+sentinel://:pw@127.0.0.1:26379,[::1]:26380/mymaster/3')).toEqual(
      {
        url: 'redis://:pw@127.0.0.1:26379/3',
        sentinels: ['127.0.0.1:26379', '[::1]:26380'],
        sentinelName: 'mymaster',
      },
    );
    expect(parseTopologyUrl('rediss+cluster://a:7000,b:7001')).toEqual({
      url: 'rediss://a:7000',
      cluster: ['a:7000', 'b:7001'],
    });
    expect(parseTopologyUrl('redis://127.0.0.1:6379')).toBeUndefined();
  });

  it('names the mistake of a malformed topology URL', () => {
    for (const bad of [
      'redis+sentinel://a:1,b:2',
      'redis+sentinel://a:1,b/mymaster',
      'redis+sentinel://a:1/mymaster/x',
      'redis+cluster://a:1/mymaster',
    ])
      expect(typeof parseTopologyUrl(bad)).toBe('string');
  });

  it('reads a topology REDIS_URL as the settings it names', () => {
    const sentinel = loadConfig({ REDIS_URL: 'redis+sentinel://u:p@s1:26379,s2:26379/prod' });
    expect(sentinel.REDIS_URL).toBe('redis://u:p@s1:26379');
    expect(sentinel.REDIS_SENTINEL_NAME).toBe('prod');
    expect(configTarget(sentinel).sentinel?.sentinels).toHaveLength(2);
    const cluster = loadConfig({ REDIS_URL: 'redis+cluster://n1:7000,n2:7001' });
    expect(cluster.REDIS_CLUSTER_NODES).toEqual([
      { host: 'n1', port: 7000 },
      { host: 'n2', port: 7001 },
    ]);
    expect(configIssues({ REDIS_URL: 'redis+sentinel://s1:26379' }).map((i) => i.path)).toEqual([
      'REDIS_URL',
    ]);
    expect(
      configIssues({ REDIS_URL: 'redis+cluster://n1:7000', REDIS_CLUSTER_NODES: 'n2:7000' }).map(
        (i) => i.path,
      ),
    ).toEqual(['REDIS_CLUSTER_NODES']);
  });
});

describe('createRedisClient with a Sentinel group', () => {
  it('asks the sentinels for the master and follows their failover announcements', () => {
    const target = redisTarget('rediss://:pw@ignored:6379/1', {
      sentinels: [{ host: '127.0.0.1', port: 26379 }],
      name: 'mymaster',
    });
    const client = createRedisClient(target, { lazyConnect: true, retryStrategy: () => null });
    try {
      if (isCluster(client))
        throw new Error('a Sentinel group gives one connection, not a cluster');
      expect(client.options).toMatchObject({
        name: 'mymaster',
        sentinels: [{ host: '127.0.0.1', port: 26379 }],
        db: 1,
        password: 'pw',
        failoverDetector: true,
        enableTLSForSentinelMode: true,
      });
      // The probe's "no retry" also stops the rounds over the sentinels.
      expect(client.options.sentinelRetryStrategy?.(1)).toBeNull();
      expect(clientUrl(client)).toBe('rediss+sentinel://127.0.0.1:26379/mymaster');
    } finally {
      client.disconnect();
    }
  });
});
