import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer } from '../../../scripts/lib/redis-server.js';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { startInProcessWorker } from '../../../test/support/workers.js';
import type { WorkerService } from '../../worker/src/worker-service.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

/** A producer and a worker on a Redis that needs a password, given to both in REDIS_URL. */
describe('Redis with a password (redis-server --requirepass)', () => {
  const password = 'redis-pass-8fJ2kq0Lz';
  const prefix = uniquePrefix();
  let server: Awaited<ReturnType<typeof startRedisServer>>;
  let url: string;
  let worker: WorkerService;
  let producer: TestProducer;

  beforeAll(async () => {
    server = await startRedisServer();
    const admin = new Redis(server.url);
    await admin.config('SET', 'requirepass', password);
    admin.disconnect();
    url = `redis://:${password}@127.0.0.1:${server.port}`;
    worker = await startInProcessWorker(url, prefix);
    producer = await startProducer(testConfig(url, prefix, { RATE_LIMIT_MAX: '0' }));
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await server?.stop();
  });

  it('serves infers through the password-protected Redis, and is ready', async () => {
    const payload = {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
    };
    const infer = await producer.app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload,
    });
    expect(infer.statusCode).toBe(200);
    const ready = await producer.app.inject({ method: 'GET', url: '/v2/health/ready' });
    expect(ready.statusCode).toBe(200);
  });

  it('a producer with a wrong password does not start', async () => {
    const wrong = `redis://:wrong-password@127.0.0.1:${server.port}`;
    await expect(startProducer(testConfig(wrong, prefix))).rejects.toMatchObject({
      code: 'ERR_QUEUE_UNAVAILABLE',
    });
  });
});
