import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { batchWritesPerTurn } from './redis-write-batching.js';

const redisUrl = inject('redisUrl');
const turnEnd = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('batchWritesPerTurn', () => {
  const opened: Redis[] = [];
  afterEach(() => {
    for (const redis of opened.splice(0)) redis.disconnect();
  });

  const connect = async (): Promise<Redis> => {
    const redis = new Redis(redisUrl, { lazyConnect: true });
    opened.push(redis);
    batchWritesPerTurn(redis);
    await redis.connect();
    return redis;
  };

  it('holds the commands of one turn in the socket until the turn ends, then sends them at once', async () => {
    const redis = await connect();
    const plain = new Redis(redisUrl);
    opened.push(plain);
    await plain.ping();
    // Commands issued from separate callbacks of the same turn, as requests are: immediates queued
    // together run in one check phase (the uncork, queued from the first, runs in the next).
    const held = await new Promise<{ batched: [number, number]; unbatched: [number, number] }>(
      (resolve) => {
        for (let i = 0; i < 20; i++) setImmediate(() => void redis.ping());
        for (let i = 0; i < 20; i++) setImmediate(() => void plain.ping());
        setImmediate(() => {
          resolve({
            batched: [redis.stream.writableCorked, redis.stream.writableLength],
            unbatched: [plain.stream.writableCorked, plain.stream.writableLength],
          });
        });
      },
    );
    // Twenty PINGs of 14 bytes each wait in the corked socket; the plain one has sent its own.
    expect(held.batched).toEqual([1, 20 * '*1\r\n$4\r\nping\r\n'.length]);
    expect(held.unbatched).toEqual([0, 0]);
    await turnEnd();
    expect([redis.stream.writableCorked, redis.stream.writableLength]).toEqual([0, 0]);
  });

  it('keeps every reply with its command, in order', async () => {
    const redis = await connect();
    const key = `batch-test:${process.pid}:${Date.now()}`;
    const replies = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) =>
          new Promise<number>((resolve, reject) => {
            setTimeout(() => void redis.rpush(key, String(i)).then(resolve, reject), 0);
          }),
      ),
    );
    expect(replies).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(await redis.lrange(key, 0, -1)).toEqual(Array.from({ length: 200 }, (_, i) => `${i}`));
    await redis.del(key);
  });

  it('batches the socket of a reconnection too', async () => {
    const redis = await connect();
    const first = redis.stream;
    const reconnected = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    first.destroy();
    await reconnected;
    expect(redis.stream).not.toBe(first);
    void redis.ping();
    expect(redis.stream.writableCorked).toBe(1);
    await turnEnd();
    expect(await redis.ping()).toBe('PONG');
  });
});
