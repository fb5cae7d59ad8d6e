import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { CLOSE_GRACE_MS, closeRedis, settledWithin } from '@conveyor/shared';
import { startFreezableProxy, type FreezableProxy } from '../../../test/support/freezable-proxy.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { freePort } from '../../../scripts/lib/redis-server.js';
import { watchRedisHealth, type RedisHealth } from '../src/redis-health.js';

const redisUrl = inject('redisUrl');
const INTERVAL_MS = 100;
const TIMEOUT_MS = 500;

describe('the worker’s Redis health watch', () => {
  let proxy: FreezableProxy | undefined;
  let health: RedisHealth | undefined;

  afterEach(async () => {
    health?.close();
    proxy?.thaw();
    await proxy?.close();
    proxy = health = undefined;
  });

  const watchVia = (url: string) => {
    const { logger, records } = memoryLogger();
    health = watchRedisHealth({ url, log: logger, intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS });
    return { health, records };
  };
  const named = (records: Record<string, unknown>[], msg: string) =>
    records.filter((r) => r.msg === msg);

  it('stays healthy and silent while Redis answers', async () => {
    const { health, records } = watchVia(redisUrl);
    await sleep(INTERVAL_MS * 5);
    expect(health.healthy()).toBe(true);
    expect(health.downSince()).toBeUndefined();
    expect(records).toEqual([]);
  });

  it('reports a frozen Redis (socket open, no replies) once, and says when it answers again', async () => {
    proxy = await startFreezableProxy(redisUrl);
    const { health, records } = watchVia(proxy.url);
    await sleep(INTERVAL_MS * 3);
    expect(health.healthy()).toBe(true);

    const frozenAt = Date.now();
    proxy.freeze();
    await expect.poll(() => health.healthy(), { timeout: 5000, interval: 20 }).toBe(false);
    expect(Date.now() - frozenAt).toBeLessThan(INTERVAL_MS + TIMEOUT_MS + 1000);
    // Rate-limited: one record however many PINGs go unanswered.
    await sleep((INTERVAL_MS + TIMEOUT_MS) * 4);
    expect(named(records, 'redis is not answering')).toEqual([
      expect.objectContaining({
        level: 40,
        redis: `127.0.0.1:${proxy.port}`,
        reason: 'Command timed out',
        code: 'ERR_QUEUE_UNAVAILABLE',
      }),
    ]);
    expect(health.downSince()).toBeGreaterThanOrEqual(frozenAt);

    proxy.thaw();
    await expect.poll(() => health.healthy(), { timeout: 5000, interval: 20 }).toBe(true);
    expect(named(records, 'redis answers again')).toEqual([
      expect.objectContaining({ level: 30, redis: `127.0.0.1:${proxy.port}` }),
    ]);
    expect(named(records, 'redis answers again')[0]?.downForMs).toBeGreaterThan(0);
  });

  it('reports a Redis that refuses connections, without its password', async () => {
    const port = await freePort();
    const { health, records } = watchVia(`redis://:s3cret-password@127.0.0.1:${port}`);
    await expect.poll(() => health.healthy(), { timeout: 5000, interval: 20 }).toBe(false);
    const [warning] = named(records, 'redis is not answering');
    expect(warning).toMatchObject({ redis: `127.0.0.1:${port}` });
    expect(String(warning?.reason)).toContain('ECONNREFUSED');
    expect(JSON.stringify(records)).not.toContain('s3cret-password');
  });
});

describe('closing a Redis connection at shutdown', () => {
  it('QUITs a connection whose Redis answers', async () => {
    const connection = new Redis(redisUrl);
    await connection.ping();
    expect(await closeRedis(connection, CLOSE_GRACE_MS)).toBe(true);
    await expect.poll(() => connection.status).toBe('end');
  });

  it('drops a connection whose Redis is frozen once QUIT goes unanswered', async () => {
    const proxy = await startFreezableProxy(redisUrl);
    const connection = new Redis(proxy.url);
    connection.on('error', () => undefined);
    try {
      await connection.ping();
      proxy.freeze();
      const started = Date.now();
      expect(await closeRedis(connection, 300)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1000);
      // Dropped: the socket closes (ioredis destroys one left half-open after 2 s).
      await expect.poll(() => connection.status, { timeout: 3000 }).toBe('end');
    } finally {
      connection.disconnect();
      proxy.thaw();
      await proxy.close();
    }
  });

  it('bounds a wait: true when the work settles in time (even by failing), false when not', async () => {
    expect(await settledWithin(Promise.resolve(), 100)).toBe(true);
    expect(await settledWithin(Promise.reject(new Error('failed')), 100)).toBe(true);
    expect(await settledWithin(new Promise(() => undefined), 50)).toBe(false);
  });
});
