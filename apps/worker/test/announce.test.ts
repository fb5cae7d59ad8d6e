import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  CatalogueEntrySchema,
  catalogueKey,
  createLogger,
  modelsChannel,
  type ModelSignature,
} from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startAnnouncing } from '../src/announce.js';

const redisUrl = inject('redisUrl');
const silent = createLogger({ level: 'silent', component: 'worker' });
const signature = (name: string, version = '1'): ModelSignature => ({
  name,
  version,
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1] }],
});

describe('the catalogue heartbeat', () => {
  const prefix = uniquePrefix();
  const key = catalogueKey(prefix);
  const redis = new Redis(redisUrl);

  afterAll(async () => {
    await dropPrefix(redisUrl, prefix);
    redis.disconnect();
  });

  const announcedAt = async (field: string) => {
    const raw = await redis.hget(key, field);
    return raw === null ? undefined : CatalogueEntrySchema.parse(JSON.parse(raw)).announcedAt;
  };

  it('re-announces on every beat, deletes what expired meanwhile, and stops when told', async () => {
    const announcer = await startAnnouncing({
      connection: redis,
      prefix,
      worker: 'w1',
      announcements: [{ signature: signature('kept'), state: 'ready' }],
      expiryMs: 60_000,
      log: silent,
      heartbeatMs: 50,
    });
    const first = await announcedAt('kept@1@w1');
    expect(first).toBeDefined();

    // A version another worker stopped announcing long ago, and one it announced just now.
    await redis.hset(key, {
      'gone@1': JSON.stringify({ ...signature('gone'), announcedAt: Date.now() - 120_000 }),
      'other@1': JSON.stringify({ ...signature('other'), announcedAt: Date.now() }),
    });
    await expect.poll(() => redis.hexists(key, 'gone@1')).toBe(0);
    await expect
      .poll(async () => (await announcedAt('kept@1@w1')) ?? 0)
      .toBeGreaterThan(first ?? 0);
    expect(await redis.hexists(key, 'other@1')).toBe(1);

    announcer.stop();
    await sleep(100); // a beat already under way may still land
    const last = await announcedAt('kept@1@w1');
    await sleep(200);
    expect(await announcedAt('kept@1@w1')).toBe(last);
  });

  it('announces a change of state and takes a version out at once, telling clients', async () => {
    const announcer = await startAnnouncing({
      connection: redis,
      prefix,
      worker: 'w2',
      announcements: [],
      expiryMs: 60_000,
      log: silent,
      heartbeatMs: 60_000,
    });
    const listener = new Redis(redisUrl);
    const notices: string[] = [];
    listener.on('message', (_channel: string, model: string) => notices.push(model));
    await listener.subscribe(modelsChannel(prefix));
    await announcer.set({ signature: signature('moving', '2'), state: 'ready' });
    await announcer.set({
      signature: signature('moving', '2'),
      state: 'draining',
    });
    const entry = CatalogueEntrySchema.parse(
      JSON.parse((await redis.hget(key, 'moving@2@w2')) ?? ''),
    );
    expect(entry).toMatchObject({ state: 'draining', worker: 'w2' });
    await announcer.remove('moving', '2');
    expect(await redis.hexists(key, 'moving@2@w2')).toBe(0);
    await expect.poll(() => notices).toEqual(['moving', 'moving', 'moving']);
    announcer.stop();
    listener.disconnect();
  });
});
