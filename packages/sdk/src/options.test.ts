import { describe, expect, it } from 'vitest';
import { ClientOptionsSchema, redisConnectionOptions } from './options.js';

describe('the queue client takes a Sentinel group like a cluster', () => {
  it('connects through sentinels and a master name, with credentials from redisUrl', () => {
    const options = ClientOptionsSchema.parse({
      redisUrl: 'redis://app:pw@ignored:6379/4',
      sentinels: ['127.0.0.1:26379', '127.0.0.1:26380'],
      sentinelName: 'mymaster',
    });
    expect(redisConnectionOptions(options)).toMatchObject({
      sentinel: {
        name: 'mymaster',
        sentinels: [
          { host: '127.0.0.1', port: 26379 },
          { host: '127.0.0.1', port: 26380 },
        ],
      },
      db: 4,
      username: 'app',
      password: 'pw',
    });
  });

  it('reads redis+sentinel:// and redis+cluster:// URLs', () => {
    const sentinel = redisConnectionOptions(
      ClientOptionsSchema.parse({ redisUrl: 'rediss+sentinel://:pw@10.0.0.1:26379/prod' }),
    );
    expect(sentinel).toMatchObject({ sentinel: { name: 'prod' }, password: 'pw', tls: {} });
    const cluster = redisConnectionOptions(
      ClientOptionsSchema.parse({ redisUrl: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000' }),
    );
    expect(cluster.cluster).toHaveLength(2);
    expect(cluster.sentinel).toBeUndefined();
  });

  it('refuses sentinels without a name, and two topologies at once', () => {
    const paths = (input: unknown) =>
      ClientOptionsSchema.safeParse(input).error?.issues.map((issue) => issue.path.join('.'));
    expect(paths({ sentinels: ['127.0.0.1:26379'] })).toEqual(['sentinelName']);
    expect(
      paths({ sentinels: ['127.0.0.1:26379'], sentinelName: 'm', clusterNodes: ['a:7000'] }),
    ).toEqual(['sentinels']);
    expect(paths({ redisUrl: 'redis+sentinel://127.0.0.1:26379' })).toEqual(['redisUrl']);
  });
});
