import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { buildApp } from '../src/app.js';
import { startProducer, testConfig, unusedClient, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
/** A prefix no worker has announced a model on. */
const emptyPrefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

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

  it('says ready when Redis answers and a worker has announced its models', async () => {
    const response = await served.app.inject({ method: 'GET', url: '/v2/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ ready: true });
  });

  it('says not ready, with a reason, when no model is announced under its prefix', async () => {
    const response = await empty.app.inject({ method: 'GET', url: '/v2/health/ready' });
    expect(response.statusCode).toBe(503);
    const body = response.json<{ ready: boolean; reason: string }>();
    expect(body.ready).toBe(false);
    expect(body.reason).toBe('no worker has announced a model');
  });

  it('says not ready once every worker that announced a model has stopped', async () => {
    const stoppedPrefix = uniquePrefix();
    const config = testConfig(redisUrl, stoppedPrefix);
    const gone = await startWorkerService(config, silent);
    const producer = await startProducer(config);
    try {
      expect(
        (await producer.app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode,
      ).toBe(200);
      await gone.close();
      const response = await producer.app.inject({ method: 'GET', url: '/v2/health/ready' });
      expect(response.statusCode).toBe(503);
      const body = response.json<{ ready: boolean; reason: string }>();
      expect(body.ready).toBe(false);
      expect(body.reason).toMatch(
        /^no worker is running for "(iris|text-direction)", "(iris|text-direction)"$/,
      );
    } finally {
      await producer.close();
      await dropPrefix(redisUrl, stoppedPrefix);
    }
  });

  describe('when Redis does not answer', () => {
    const config = testConfig(redisUrl, prefix);
    const withPing = (redisPing: () => Promise<boolean>) =>
      buildApp(config, {
        client: unusedClient({ models: () => Promise.reject(new Error('down')) }),
        redisPing,
        logger: silent,
      });

    it.each([
      ['PING fails', () => Promise.resolve(false)],
      ['PING throws', () => Promise.reject(new Error('connection is closed'))],
    ])('is still live but not ready when %s', async (_name, ping) => {
      const app = withPing(ping);
      try {
        expect((await app.inject({ method: 'GET', url: '/v2/health/live' })).statusCode).toBe(200);
        const ready = await app.inject({ method: 'GET', url: '/v2/health/ready' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toEqual({ ready: false, reason: 'redis did not answer' });
      } finally {
        await app.close();
      }
    });

    it('is not ready when the catalogue cannot be read', async () => {
      const app = withPing(() => Promise.resolve(true));
      try {
        const ready = await app.inject({ method: 'GET', url: '/v2/health/ready' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toMatchObject({ ready: false });
      } finally {
        await app.close();
      }
    });
  });
});
