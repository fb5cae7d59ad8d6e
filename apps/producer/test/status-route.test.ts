import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConveyorStatusSchema } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startInProcessWorker } from '../../../test/support/workers.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const INFER = 'infer-secret-0123456789abcdef';
const ADMIN = 'admin-secret-0123456789abcdef';
const KEYS = `ci:infer:${INFER},ops:admin:${ADMIN}`;

describe('GET /v1/status', () => {
  const prefix = uniquePrefix();
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let producer: TestProducer;

  beforeAll(async () => {
    worker = await startInProcessWorker(redisUrl, prefix, { MODELS: 'iris' });
    producer = await startProducer(testConfig(redisUrl, prefix, { API_KEYS: KEYS }));
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  const get = (token?: string) =>
    producer.app.inject({
      method: 'GET',
      url: '/v1/status',
      ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
    });

  it('refuses a request without a key (401) and an infer-only key (403)', async () => {
    const anonymous = await get();
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'ERR_UNAUTHORIZED', statusCode: 401 });
    const infer = await get(INFER);
    expect(infer.statusCode).toBe(403);
    expect(infer.json()).toMatchObject({ code: 'ERR_FORBIDDEN', statusCode: 403 });
  });

  it('answers an admin key with the status: models, queues and the live worker', async () => {
    let body: ReturnType<typeof ConveyorStatusSchema.parse> | undefined;
    await expect
      .poll(
        async () => {
          const response = await get(ADMIN);
          expect(response.statusCode).toBe(200);
          body = ConveyorStatusSchema.parse(response.json());
          return body.workers.map((w) => [w.id, w.state]);
        },
        { timeout: 10_000, interval: 100 },
      )
      .toEqual([[worker.id, 'ready']]);
    expect(body!.models.map((m) => m.name)).toEqual(['iris']);
    expect(body!.queues).toEqual([
      expect.objectContaining({ model: 'iris', version: '1', workers: 1, backlogSeconds: 0 }),
    ]);
  });

  it('is in the OpenAPI document', async () => {
    const response = await producer.app.inject({ method: 'GET', url: '/docs/json' });
    const doc = response.json<{ paths: Record<string, { get?: { summary?: string } }> }>();
    expect(doc.paths['/v1/status']?.get?.summary).toMatch(/backlog/);
  });
});
