import { randomUUID } from 'node:crypto';
import { batchWritesPerTurn } from '@conveyor/shared';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { setBlob } from './blob-write.js';

const redisUrl = inject('redisUrl');

describe('setBlob', () => {
  const opened: Redis[] = [];
  const prefix = `test-${randomUUID()}`;
  afterEach(async () => {
    for (const redis of opened.splice(0)) {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  const client = (): Redis => {
    const redis = new Redis(redisUrl, { lazyConnect: true });
    opened.push(redis);
    batchWritesPerTurn(redis);
    return redis;
  };

  it('stores the bytes of a view unchanged, between other commands of the same turn', async () => {
    const redis = client();
    await redis.ping();
    const whole = Buffer.from(Array.from({ length: 200_003 }, (_, i) => (i * 7) & 255));
    const view = whole.subarray(3);
    const key = `${prefix}:ünïcode`;
    const replies = await Promise.all([
      redis.set(`${prefix}:a`, 'before'),
      setBlob(redis, key, view, 60),
      redis.get(`${prefix}:a`),
      setBlob(redis, `${prefix}:empty`, Buffer.alloc(0), 60),
      redis.incr(`${prefix}:n`),
    ]);
    expect(replies).toEqual(['OK', 'OK', 'before', 'OK', 1]);
    expect((await redis.getBuffer(key))?.equals(view)).toBe(true);
    expect(await redis.getBuffer(`${prefix}:empty`)).toEqual(Buffer.alloc(0));
    expect(await redis.ttl(key)).toBeGreaterThan(55);
  });

  it('leaves an existing key as it is (NX) and resolves with null', async () => {
    const redis = client();
    const key = `${prefix}:kept`;
    await redis.set(key, 'first');
    await expect(setBlob(redis, key, Buffer.from('second'), 60)).resolves.toBeNull();
    expect(await redis.get(key)).toBe('first');
  });

  it('is sent once the client connects when issued before', async () => {
    const redis = client();
    const key = `${prefix}:queued`;
    await expect(setBlob(redis, key, Buffer.from('early'), 60)).resolves.toBe('OK');
    expect(await redis.get(key)).toBe('early');
  });
});
