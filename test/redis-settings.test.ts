import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createClient } from '@conveyor/sdk';
import { JOB_HASH_VALUE_BYTES, queueKey, queueOfJobId } from '@conveyor/shared';
import { JOB_HASH_ADVICE } from '../apps/worker/src/redis-settings.js';
import { startRedisServer } from '../scripts/lib/redis-server.js';
import { uniquePrefix } from './support/prefix.js';
import { startInProcessWorker } from './support/workers.js';

type Server = Awaited<ReturnType<typeof startRedisServer>>;

/**
 * Runs one iris job through a real worker on `server` and answers how Redis encodes the finished
 * job's hash, and whether the worker advised on the setting.
 */
async function finishedJobEncoding(server: Server) {
  const prefix = uniquePrefix();
  const worker = await startInProcessWorker(server.url, prefix);
  const client = await createClient({ redisUrl: server.url, prefix });
  const redis = new Redis(server.url);
  try {
    const handle = await client.enqueue('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
    await handle.result({ timeoutMs: 20_000 });
    const key = queueKey(prefix, queueOfJobId(handle.id), handle.id);
    const fields = await redis.hgetall(key);
    return {
      encoding: await redis.object('ENCODING', key),
      longest: Math.max(...Object.values(fields).map((v) => Buffer.byteLength(v))),
      advised: worker.records.filter((r) => String(r.msg).startsWith(JOB_HASH_ADVICE)),
    };
  } finally {
    redis.disconnect();
    await client.close();
    await worker.close();
  }
}

describe('the Redis setting Conveyor ships (hash-max-listpack-value)', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('keeps a finished job in one listpack on a Redis started as conveyor dev starts it', async () => {
    server = await startRedisServer();
    const { encoding, longest, advised } = await finishedJobEncoding(server);
    // The job has fields over Redis's default of 64 bytes: without the setting it would not be.
    expect(longest).toBeGreaterThan(64);
    expect(encoding).toBe('listpack');
    expect(advised).toEqual([]);
  }, 60_000);

  it("makes it a hash table at Redis's default, and the worker says what to set", async () => {
    server = await startRedisServer({ args: ['--hash-max-ziplist-value', '64'] });
    const { encoding, advised } = await finishedJobEncoding(server);
    expect(encoding).toBe('hashtable');
    expect(advised).toHaveLength(1);
    expect(advised[0]).toMatchObject({
      level: 30,
      hashMaxListpackValue: 64,
      recommended: JOB_HASH_VALUE_BYTES,
    });
  }, 60_000);

  it('is set the same way in docker-compose.yml', () => {
    const compose = parse(
      readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8'),
    ) as {
      services: { redis: { command: string[] } };
    };
    const { command } = compose.services.redis;
    const at = command.indexOf('--hash-max-listpack-value');
    expect(at).toBeGreaterThan(0);
    expect(command[at + 1]).toBe(String(JOB_HASH_VALUE_BYTES));
  });
});
