import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CatalogueEntrySchema,
  catalogueField,
  catalogueKey,
  createLogger,
  msFromRedisTime,
  queueName,
  redisUnavailable,
  type CatalogueEntry,
  WORKER_SILENT_MS,
  workerBeatsKey,
  queuePrefix,
} from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { buildApp } from '../src/app.js';
import { startProducer, testConfig, unusedClient, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
/** A prefix no worker has announced a model on. */
const emptyPrefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

/** Polls `url` until it answers `status`; resolves with the ms that took. */
async function timeUntil(producer: TestProducer, url: string, status: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const response = await producer.app.inject({ method: 'GET', url });
    if (response.statusCode === status) return Date.now() - started;
    if (Date.now() - started > 10_000)
      throw new Error(`${url} still answers ${response.statusCode}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('health routes', () => {
  let worker: WorkerService;
  let served: TestProducer;
  let empty: TestProducer;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix);
    worker = await startWorkerService(config, silent);
    served = await startProducer(config);
    empty = await startProducer(testConfig(redisUrl, emptyPrefix));
  }, 60_000);

  afterAll(async () => {
    await empty?.close();
    await served?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await dropPrefix(redisUrl, emptyPrefix);
  });

  it('says live', async () => {
    const response = await served.app.inject({ method: 'GET', url: '/v2/health/live' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ live: true });
  });

  it('says ready when Redis answers', async () => {
    const response = await served.app.inject({ method: 'GET', url: '/v2/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ready: true });
  });

  it('says ready before any worker has announced a model: jobs wait in their queues', async () => {
    const response = await empty.app.inject({ method: 'GET', url: '/v2/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ready: true });
  });

  it('stays ready when every worker of a model stopped, while the model itself says not ready', async () => {
    const stoppedPrefix = uniquePrefix();
    const config = testConfig(redisUrl, stoppedPrefix, { MODELS: 'iris' });
    const gone = await startWorkerService(config, silent);
    const producer = await startProducer(config);
    try {
      expect(
        (await producer.app.inject({ method: 'GET', url: '/v2/models/iris/ready' })).statusCode,
      ).toBe(200);
      await gone.close();
      const ready = await producer.app.inject({ method: 'GET', url: '/v2/health/ready' });
      expect(ready.statusCode).toBe(200);
      for (const url of ['/v2/models/iris/ready', '/v2/models/iris/versions/1/ready']) {
        const model = await producer.app.inject({ method: 'GET', url });
        expect(model.statusCode).toBe(400);
        expect(model.json()).toEqual({
          name: 'iris',
          ready: false,
          reason: 'no live worker serves version 1; its jobs wait in the queue until one does',
        });
      }
    } finally {
      await producer.close();
      await dropPrefix(redisUrl, stoppedPrefix);
    }
  });

  it('says a model is ready within a second of its worker starting, with no cache in the way', async () => {
    const laterPrefix = uniquePrefix();
    const config = testConfig(redisUrl, laterPrefix, { MODELS: 'iris' });
    const producer = await startProducer(config);
    let late: WorkerService | undefined;
    try {
      // The producer has read the (empty) catalogue before the worker comes.
      const before = await producer.app.inject({ method: 'GET', url: '/v2/models/iris/ready' });
      expect(before.statusCode).toBe(404);
      expect((await producer.client.models()).length).toBe(0);
      late = await startWorkerService(config, silent);
      expect(await timeUntil(producer, '/v2/models/iris/ready', 200)).toBeLessThan(1000);
      expect(await timeUntil(producer, '/v2/models/iris/versions/1/ready', 200)).toBeLessThan(1000);
    } finally {
      await late?.close();
      await producer.close();
      await dropPrefix(redisUrl, laterPrefix);
    }
  });

  describe('a worker that keeps its connection but stopped beating (frozen)', () => {
    const frozenPrefix = uniquePrefix();
    const admin = new Redis(redisUrl);
    let consumer: Worker;
    let producer: TestProducer;
    let iris: CatalogueEntry;

    /** Writes the catalogue entry of a worker whose last beat was `ageMs` ago, by Redis's clock. */
    const beatAgo = async (ageMs: number) => {
      const now = msFromRedisTime(await admin.time());
      const entry = { ...iris, worker: 'w-frozen', state: 'ready', announcedAt: now - 1000 };
      await admin.hset(catalogueKey(frozenPrefix), {
        [catalogueField('iris', '1', 'w-frozen')]: JSON.stringify(entry),
      });
      await admin.zadd(workerBeatsKey(frozenPrefix), now - ageMs, 'w-frozen');
    };

    beforeAll(async () => {
      const raw = await admin.hget(catalogueKey(prefix), catalogueField('iris', '1', worker.id));
      iris = CatalogueEntrySchema.parse(JSON.parse(raw ?? 'null'));
      // A BullMQ consumer of the version's queue: a connection that BullMQ counts as a worker.
      consumer = new Worker(queueName('iris', '1'), () => Promise.resolve(), {
        connection: { url: redisUrl },
        prefix: queuePrefix(frozenPrefix, queueName('iris', '1')),
      });
      await consumer.waitUntilReady();
      producer = await startProducer(testConfig(redisUrl, frozenPrefix));
    }, 60_000);

    afterAll(async () => {
      await producer?.close();
      await consumer?.close();
      await dropPrefix(redisUrl, frozenPrefix);
      admin.disconnect();
    });

    it('counts the worker while it beats', async () => {
      await beatAgo(500);
      const response = await producer.app.inject({ method: 'GET', url: '/v2/models/iris/ready' });
      expect(response.statusCode).toBe(200);
      const [model] = await producer.client.models();
      expect(model?.workers).toBe(1);
    });

    it('says the model is not ready once its last beat is older than WORKER_SILENT_MS', async () => {
      await beatAgo(WORKER_SILENT_MS + 1000);
      const response = await producer.app.inject({ method: 'GET', url: '/v2/models/iris/ready' });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ name: 'iris', ready: false });
      const [model] = await producer.client.models();
      expect(model?.workers).toBe(0);
      expect(model).not.toHaveProperty('beating');
      // The producer itself still takes work.
      const ready = await producer.app.inject({ method: 'GET', url: '/v2/health/ready' });
      expect(ready.statusCode).toBe(200);
    });
  });

  describe('when Redis does not answer', () => {
    const config = testConfig(redisUrl, prefix);
    const withPing = (redisPing: () => Promise<boolean>) =>
      buildApp(config, {
        client: unusedClient({ models: () => Promise.reject(new Error('down')) }),
        redisPing,
        logger: silent,
      });
    const ready = async (ping: () => Promise<boolean>) => {
      const app = withPing(ping);
      try {
        expect((await app.inject({ method: 'GET', url: '/v2/health/live' })).statusCode).toBe(200);
        const started = Date.now();
        const response = await app.inject({ method: 'GET', url: '/v2/health/ready' });
        return { response, ms: Date.now() - started };
      } finally {
        await app.close();
      }
    };

    it('is still live but not ready when PING fails, with the reason', async () => {
      const { response } = await ready(() => Promise.resolve(false));
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({
        ready: false,
        reason: 'Redis answered PING with something other than PONG',
      });
    });

    it('names the Redis and what to check when PING is refused', async () => {
      const { response } = await ready(() =>
        Promise.reject(
          redisUnavailable(
            'redis.internal:6380',
            new Error("Stream isn't writeable and enableOfflineQueue options is false"),
          ),
        ),
      );
      expect(response.statusCode).toBe(503);
      const { reason } = response.json<{ reason: string }>();
      expect(reason).toMatch(/^not connected to Redis at redis\.internal:6380 .*check that Redis/);
      expect(reason).not.toMatch(/enableOfflineQueue/);
    });

    it('says not ready within a second when PING never answers (a frozen Redis)', async () => {
      const { response, ms } = await ready(() => new Promise<boolean>(() => undefined));
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({
        ready: false,
        reason: 'Redis did not answer PING within 1000 ms',
      });
      expect(ms).toBeLessThan(1500);
    });

    it('does not read the model catalogue: PING is the whole check', async () => {
      const { response } = await ready(() => Promise.resolve(true));
      expect(response.statusCode).toBe(200);
    });
  });
});
