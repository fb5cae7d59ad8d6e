import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, redisTarget, type RedisClient } from '@conveyor/shared';
import { startRedisServer } from '../scripts/lib/redis-server.js';

type Server = Awaited<ReturnType<typeof startRedisServer>>;

/** Timers that keep the process alive: ioredis's per-command ones do; the connection's does not. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('a producer connection on a frozen Redis (command timeout)', () => {
  let server: Server;
  let redis: RedisClient;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedisClient(redisTarget(server.url), {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: 300,
      lazyConnect: true,
    });
    await redis.connect();
  });
  afterAll(async () => {
    server.process.kill('SIGCONT');
    redis.disconnect();
    await server.stop();
  });

  it('fails every pending command, a pipeline of 250 with no timer each, then works again', async () => {
    const before = timers();
    server.process.kill('SIGSTOP');
    try {
      const started = Date.now();
      const pipeline = redis.pipeline();
      for (let i = 0; i < 250; i++) pipeline.set(`k${i}`, 'v');
      // A pipeline answers each command apart: [error, reply] pairs.
      const outcome = pipeline.exec().then((replies) => replies?.map(([error]) => error?.message));
      const single = redis.get('k0').then(
        () => 'answered',
        (error: Error) => error.message,
      );
      await new Promise((r) => setImmediate(r));
      // ioredis's own commandTimeout holds a timer for each of the 251 commands.
      expect(timers()).toBe(before);
      expect(await single).toBe('Command timed out');
      expect(await outcome).toEqual(Array(250).fill('Command timed out'));
      // Not before its time: each command waited its full timeout.
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      server.process.kill('SIGCONT');
    }
    expect(await redis.ping()).toBe('PONG');
    expect(await redis.set('after', '1')).toBe('OK');
  }, 20_000);

  it('keeps a command that is answered in time', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => redis.incr(`n${i % 3}`)),
    );
    expect(results).toHaveLength(100);
  });
});
