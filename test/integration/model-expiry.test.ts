import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createClient, isConveyorError } from '@conveyor/sdk';
import {
  CatalogueEntrySchema,
  DEFAULT_MODEL_EXPIRY_MS,
  catalogueField,
  catalogueKey,
  createLogger,
  type CatalogueEntry,
} from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';
import { startProducer, testConfig } from '../../apps/producer/test/support.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';

/**
 * Catalogue entries carry the time a worker last announced them. A version nobody announced for
 * MODEL_EXPIRY_MS (a model taken away) is forgotten by clients, by readiness and, at their next
 * beat, by workers; an entry still announced keeps the model claimed even while no worker runs.
 */
const redisUrl = inject('redisUrl');
const silent = createLogger({ level: 'silent', component: 'worker' });
const HOUR = 3_600_000;

describe('model expiry in the catalogue', () => {
  const prefix = uniquePrefix();
  const key = catalogueKey(prefix);
  const redis = new Redis(redisUrl);
  let worker: WorkerService;
  let iris: CatalogueEntry;

  const entry = (name: string, version: string, announcedAt?: number): string => {
    const signature = { ...iris, name, version };
    delete signature.announcedAt;
    return JSON.stringify(announcedAt === undefined ? signature : { ...signature, announcedAt });
  };
  /** The producer's readiness, or a model's (`GET /v2/models/{name}/ready`). */
  const ready = async (model?: string) => {
    const producer = await startProducer(testConfig(redisUrl, prefix));
    try {
      const url = model === undefined ? '/v2/health/ready' : `/v2/models/${model}/ready`;
      const response = await producer.app.inject({ method: 'GET', url });
      return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
    } finally {
      await producer.close();
    }
  };

  beforeAll(async () => {
    worker = await startWorkerService(testConfig(redisUrl, prefix, { MODELS: 'iris' }), silent);
    iris = CatalogueEntrySchema.parse(
      JSON.parse((await redis.hget(key, catalogueField('iris', '1', worker.id))) ?? 'null'),
    );
    await worker.close();
    // What an earlier deployment left: versions announced long ago, one written by hand.
    await redis.hset(key, {
      'retired@1': entry('retired', '1', Date.now() - HOUR),
      'iris@0': entry('iris', '0', Date.now() - HOUR),
      'by-hand@1': entry('by-hand', '1'),
      'fresh@1': entry('fresh', '1', Date.now()),
    });
    worker = await startWorkerService(testConfig(redisUrl, prefix, { MODELS: 'iris' }), silent);
  }, 60_000);

  afterAll(async () => {
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    redis.disconnect();
  });

  it('stamps each announcement, and a starting worker deletes versions nobody announced within MODEL_EXPIRY_MS', async () => {
    const fields = await redis.hgetall(key);
    // One field per worker and version (`<model>@<version>@<worker>`): the stopped worker's entry
    // of iris stays until it expires, so that its jobs wait for a worker meanwhile.
    const versions = new Set(Object.keys(fields).map((f) => f.split('@').slice(0, 2).join('@')));
    expect([...versions].sort()).toEqual(['by-hand@1', 'fresh@1', 'iris@1']);
    const stamped = CatalogueEntrySchema.parse(
      JSON.parse(fields[catalogueField('iris', '1', worker.id)] ?? 'null'),
    );
    expect(stamped.announcedAt).toBeGreaterThan(iris.announcedAt ?? Infinity);
    expect(Date.now() - (stamped.announcedAt ?? 0)).toBeLessThan(DEFAULT_MODEL_EXPIRY_MS);
  });

  it('says an announced model with no worker not ready, while the producer stays ready', async () => {
    // "fresh" and "by-hand" are claimed and nobody serves them; iris has its worker.
    for (const model of ['fresh', 'by-hand']) {
      const { status, body } = await ready(model);
      expect(status).toBe(400);
      expect(body).toMatchObject({ name: model, ready: false });
      expect(body.reason).toMatch(/^no live worker serves version 1/);
    }
    expect(await ready('iris')).toEqual({ status: 200, body: { name: 'iris', ready: true } });
    expect(await ready()).toEqual({ status: 200, body: { ready: true } });
  });

  it('forgets an expired version: clients refuse it with ERR_MODEL_NOT_FOUND and readiness stops claiming it', async () => {
    await redis.hset(key, {
      'fresh@1': entry('fresh', '1', Date.now() - HOUR),
      'by-hand@1': entry('by-hand', '1', Date.now() - 2 * HOUR),
    });
    const client = await createClient({ redisUrl, prefix });
    try {
      const names = (await client.models()).map((m) => `${m.name}@${m.version}`);
      expect(names).toEqual(['iris@1']);
      const error = await client.predict('fresh', { features: [[5.1, 3.5, 1.4, 0.2]] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isConveyorError(error) && error.code).toBe('ERR_MODEL_NOT_FOUND');
      expect(String((error as Error).message)).toMatch(
        /no worker has announced model "fresh" since \d{4}-/,
      );
      // The model still served answers as before.
      const result = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
      expect(result.model).toBe('iris');
    } finally {
      await client.close();
    }
    expect(await ready()).toEqual({ status: 200, body: { ready: true } });
  });

  it('stays ready while a version is only loading or draining; that model is not ready yet', async () => {
    const at = Date.now();
    const stated = (name: string, state: string) =>
      JSON.stringify({ ...JSON.parse(entry(name, '1', at)), state, worker: 'w-elsewhere' });
    await redis.hset(key, {
      'arriving@1@w-elsewhere': stated('arriving', 'loading'),
      'leaving@1@w-elsewhere': stated('leaving', 'draining'),
    });
    try {
      expect(await ready()).toEqual({ status: 200, body: { ready: true } });
      expect(await ready('arriving')).toEqual({
        status: 400,
        body: {
          name: 'arriving',
          ready: false,
          reason: 'no version takes jobs yet: version 1 is loading',
        },
      });
    } finally {
      await redis.hdel(key, 'arriving@1@w-elsewhere', 'leaving@1@w-elsewhere');
    }
  });

  it("judges announcements by the Redis server's clock, not by a client whose clock is off", async () => {
    // This process's clock two hours ahead, then two hours behind; Redis's clock is unchanged.
    // A new client each time: a client reuses the catalogue it read for a few seconds.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (const skew of [2 * HOUR, -2 * HOUR]) {
        vi.setSystemTime(Date.now() + skew);
        const client = await createClient({ redisUrl, prefix });
        try {
          const names = (await client.models()).map((m) => `${m.name}@${m.version}`);
          expect(names, `clock off by ${skew} ms`).toContain('iris@1');
          expect(names, `clock off by ${skew} ms`).not.toContain('by-hand@1');
        } finally {
          await client.close();
          vi.setSystemTime(Date.now() - skew);
        }
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps a model claimed while it is still announced, even with no worker (jobs wait in its queue)', async () => {
    await redis.hset(key, 'fresh@1', entry('fresh', '1', Date.now()));
    const client = await createClient({ redisUrl, prefix });
    try {
      const handle = await client.enqueue('fresh', { features: [[5.1, 3.5, 1.4, 0.2]] });
      expect(await handle.status()).toMatchObject({ state: 'waiting' });
    } finally {
      await client.close();
    }
  });
});
