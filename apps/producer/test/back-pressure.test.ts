import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, loadConfig, queueName, queuePrefix } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { CARRIED, WIDTH, createTestRepository, inputName } from './dtype-models.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
const LIMIT = 2;

const iris = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
};
const echo = {
  inputs: CARRIED.map((c) => ({
    name: inputName(c.datatype),
    shape: [1, WIDTH],
    datatype: c.datatype,
    data:
      c.datatype === 'BOOL'
        ? [true, false, true]
        : c.datatype === 'BYTES'
          ? ['a', 'b', 'c']
          : [1, 2, 3],
  })),
};

describe('back-pressure on a full model queue', () => {
  let repository: Awaited<ReturnType<typeof createTestRepository>>;
  let worker: WorkerService;
  let producer: TestProducer;
  let queue: Queue;

  beforeAll(async () => {
    repository = await createTestRepository();
    worker = await startWorkerService(
      testConfig(redisUrl, prefix, { MODEL_REPOSITORY: repository.path }),
      silent,
    );
    producer = await startProducer(
      testConfig(redisUrl, prefix, { QUEUE_DEPTH_BY_MODEL: JSON.stringify({ iris: LIMIT }) }),
    );
    queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
  }, 60_000);

  afterAll(async () => {
    await queue?.resume().catch(() => undefined);
    await queue?.close();
    await producer?.close();
    await worker?.close();
    await repository?.remove();
    await dropPrefix(redisUrl, prefix);
  });

  const infer = (model: string, payload: unknown, headers: Record<string, string> = {}) =>
    producer.app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      payload: payload as Record<string, unknown>,
      headers,
    });

  it('refuses iris with 429 ERR_QUEUE_FULL and Retry-After once its paused queue is full, while echo is served', async () => {
    await queue.pause();
    const accepted: string[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const response = await infer('iris', iris, { prefer: 'respond-async' });
      expect(response.statusCode).toBe(202);
      accepted.push(response.json<{ job_id: string }>().job_id);
    }
    expect(await queue.getJobCountByTypes('waiting', 'prioritized', 'delayed')).toBe(LIMIT);

    const refused = await infer('iris', iris);
    expect(refused.statusCode).toBe(429);
    expect(refused.json<ErrorBody>()).toMatchObject({ code: 'ERR_QUEUE_FULL', statusCode: 429 });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Nothing was enqueued for the refused request.
    expect(await queue.getJobCountByTypes('waiting', 'prioritized', 'delayed')).toBe(LIMIT);

    const other = await infer('echo', echo);
    expect(other.statusCode).toBe(200);

    // Once the queue drains, iris is served again.
    await queue.resume();
    for (const id of accepted) await producer.client.job(id).result({ timeoutMs: 20_000 });
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = (await infer('iris', iris)).statusCode;
      if (status === 429) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
  });

  it('refuses a burst past the limit on two producers once their readings refresh, overshooting by one refresh at most', async () => {
    await queue.pause();
    const second = await startProducer(
      testConfig(redisUrl, prefix, { QUEUE_DEPTH_BY_MODEL: JSON.stringify({ iris: LIMIT }) }),
    );
    try {
      const burst = (n: number) =>
        Promise.all(
          Array.from({ length: n }, (_, i) =>
            (i % 2 === 0 ? producer : second).app.inject({
              method: 'POST',
              url: '/v2/models/iris/infer',
              payload: iris,
              headers: { prefer: 'respond-async' },
            }),
          ),
        );
      const first = await burst(8);
      const accepted = first.filter((r) => r.statusCode === 202).length;
      for (const refused of first.filter((r) => r.statusCode !== 202))
        expect(refused.json<ErrorBody>().code).toBe('ERR_QUEUE_FULL');
      // Each producer counts what it accepts; the other's jobs show at its next refresh.
      expect(accepted).toBeGreaterThanOrEqual(LIMIT);
      expect(accepted).toBeLessThanOrEqual(2 * LIMIT);
      expect(await queue.getJobCountByTypes('waiting', 'prioritized', 'delayed')).toBe(accepted);

      // One refresh later (in the background, 200 ms) both know the queue is full.
      await new Promise((resolve) => setTimeout(resolve, 600));
      const later = await burst(6);
      expect(later.map((r) => r.statusCode)).toEqual(Array.from({ length: 6 }, () => 429));
    } finally {
      await second.close();
      await queue.drain();
    }
  });

  it('reads QUEUE_DEPTH_BY_MODEL as a JSON object of model limits, and refuses a bad one', () => {
    expect(loadConfig({ QUEUE_DEPTH_BY_MODEL: '{"iris": 5}' }).QUEUE_DEPTH_BY_MODEL).toEqual({
      iris: 5,
    });
    expect(loadConfig({}).MAX_QUEUE_DEPTH).toBe(10_000);
    for (const bad of ['{iris: 5}', '{"iris": 0}', '{"Iris!": 5}', '[5]']) {
      expect(() => loadConfig({ QUEUE_DEPTH_BY_MODEL: bad })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
      );
    }
  });
});
