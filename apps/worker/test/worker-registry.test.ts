import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import { msFromRedisTime, workerBeatsKey, workerRecordKey } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { watchRedisHealth, type RedisHealth } from '../src/redis-health.js';
import { WORKER_VERSION, createWorkerRegistry } from '../src/worker-registry.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const BEAT_MS = 50;
const TTL_MS = 400;

describe('the worker registry’s record, written with the beat', () => {
  let admin: Redis;
  let client: QueueClient;
  let health: RedisHealth | undefined;

  beforeAll(async () => {
    admin = new Redis(redisUrl);
    client = await createClient({ redisUrl, prefix });
  });
  afterEach(() => health?.close());
  afterAll(async () => {
    await client?.close();
    admin?.disconnect();
    await dropPrefix(redisUrl, prefix);
  });

  const beating = (id: string) => {
    const registry = createWorkerRegistry({ id, prefix, source: () => undefined, ttlMs: TTL_MS });
    health = watchRedisHealth({
      url: redisUrl,
      log: memoryLogger().logger,
      intervalMs: BEAT_MS,
      beat: { key: workerBeatsKey(prefix), worker: id, record: registry },
    });
    return { registry, health };
  };
  const listed = async (id: string) => (await client.workers()).some((w) => w.id === id);

  it('appears with the worker’s identity, stamped by the Redis clock, with a time to live', async () => {
    const before = msFromRedisTime(await admin.time());
    beating('w-alive');
    await expect.poll(() => listed('w-alive'), { timeout: 5000, interval: 20 }).toBe(true);
    const [record] = (await client.workers()).filter((w) => w.id === 'w-alive');
    expect(record).toMatchObject({
      id: 'w-alive',
      pid: process.pid,
      conveyorVersion: WORKER_VERSION,
      state: 'starting',
      versions: [],
    });
    expect(record!.startedAt).toBeGreaterThanOrEqual(before);
    expect(record!.beatAt).toBeGreaterThanOrEqual(record!.startedAt);
    const ttl = await admin.pttl(workerRecordKey(prefix, 'w-alive'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL_MS);
    // Later beats keep startedAt and move beatAt.
    await expect
      .poll(async () => (await client.workers()).find((w) => w.id === 'w-alive')?.beatAt, {
        timeout: 5000,
        interval: 20,
      })
      .toBeGreaterThan(record!.beatAt);
    const later = (await client.workers()).find((w) => w.id === 'w-alive');
    expect(later?.startedAt).toBe(record!.startedAt);
  });

  it('expires once the worker stops beating', async () => {
    const { health } = beating('w-dies');
    await expect.poll(() => listed('w-dies'), { timeout: 5000, interval: 20 }).toBe(true);
    health.close(); // as a crash would: no goodbye
    expect(await admin.exists(workerRecordKey(prefix, 'w-dies'))).toBe(1);
    await expect
      .poll(() => admin.exists(workerRecordKey(prefix, 'w-dies')), { timeout: 5000, interval: 50 })
      .toBe(0);
    expect(await listed('w-dies')).toBe(false);
  });

  it('is deleted at once when the worker retires', async () => {
    const { health } = beating('w-retires');
    await expect.poll(() => listed('w-retires'), { timeout: 5000, interval: 20 }).toBe(true);
    await health.retire();
    expect(await admin.exists(workerRecordKey(prefix, 'w-retires'))).toBe(0);
  });

  it('is skipped by readers when it does not match the schema, or is not JSON', async () => {
    beating('w-good');
    await expect.poll(() => listed('w-good'), { timeout: 5000, interval: 20 }).toBe(true);
    const now = msFromRedisTime(await admin.time());
    await admin.zadd(workerBeatsKey(prefix), now, 'w-bad', now, 'w-garbled');
    await admin.set(workerRecordKey(prefix, 'w-bad'), JSON.stringify({ id: 'w-bad', pid: -1 }));
    await admin.set(workerRecordKey(prefix, 'w-garbled'), '{not json');
    const ids = (await client.workers()).map((w) => w.id);
    expect(ids).toContain('w-good');
    expect(ids).not.toContain('w-bad');
    expect(ids).not.toContain('w-garbled');
  });

  it('is not read for a worker whose beat is older than WORKER_SILENT_MS', async () => {
    const now = msFromRedisTime(await admin.time());
    const good = (await client.workers()).find((w) => w.id === 'w-good');
    expect(good).toBeDefined();
    await admin.zadd(workerBeatsKey(prefix), now - 60_000, 'w-silent');
    await admin.set(
      workerRecordKey(prefix, 'w-silent'),
      JSON.stringify({ ...good, id: 'w-silent' }),
    );
    expect(await listed('w-silent')).toBe(false);
  });
});
