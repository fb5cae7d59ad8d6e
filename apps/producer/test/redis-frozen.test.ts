import type { ChildProcess } from 'node:child_process';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRODUCER_COMMAND_TIMEOUT_MS, createLogger } from '@conveyor/shared';
import { startRedisServer, type RedisHandle } from '../../../scripts/lib/redis-server.js';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { DEADLINE_GRACE_MS } from '../src/oip/infer.js';
import { COUNT_TIMEOUT_MS, PAUSE_AFTER_FAILURE_MS } from '../src/plugins/rate-limit.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

/** Scheduling and HTTP injection on a busy test machine, on top of each bound. */
const SLACK_MS = 400;
const IRIS = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
};

/**
 * A Redis stopped with SIGSTOP keeps its sockets open and answers nothing. The producer's requests
 * must still answer within their bounds, and the producer must serve again once Redis runs.
 */
describe('the producer while its Redis is frozen (SIGSTOP)', () => {
  const prefix = uniquePrefix();
  let redis: RedisHandle & { process: ChildProcess; port: number };
  let worker: WorkerService | undefined;
  let producer: TestProducer | undefined;
  let frozen = false;

  const freeze = () => {
    redis.process.kill('SIGSTOP');
    frozen = true;
  };
  const thaw = () => {
    if (!frozen) return;
    redis.process.kill('SIGCONT');
    frozen = false;
  };
  const timed = async (request: InjectOptions) => {
    const started = Date.now();
    const response = await (producer as TestProducer).app.inject(request);
    return { response, ms: Date.now() - started };
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    const config = testConfig(redis.url, prefix, { MODELS: 'iris' });
    worker = await startWorkerService(
      config,
      createLogger({ level: 'silent', component: 'worker' }),
    );
    producer = await startProducer(config);
    // Warm: the rate limiter, the catalogue and the queue are in use before the freeze.
    const warm = await timed({ method: 'POST', url: '/v2/models/iris/infer', payload: IRIS });
    expect(warm.response.statusCode).toBe(200);
  }, 60_000);

  afterAll(async () => {
    // A stopped redis-server would never exit on SIGTERM: wake it first, whatever happened.
    try {
      thaw();
      await producer?.close();
      await worker?.close();
    } finally {
      if (frozen) redis?.process.kill('SIGKILL');
      await redis?.stop();
    }
  });

  it('answers within each bound while frozen, and serves again after SIGCONT', async () => {
    freeze();
    // Routes that need no Redis wait for the rate limiter's count once, then not at all.
    const first = await timed({ method: 'GET', url: '/v2' });
    expect(first.response.statusCode).toBe(200);
    expect(first.ms).toBeLessThan(COUNT_TIMEOUT_MS + SLACK_MS);
    const second = await timed({ method: 'GET', url: '/v2' });
    expect(second.response.statusCode).toBe(200);
    expect(second.ms).toBeLessThan(SLACK_MS);
    expect(PAUSE_AFTER_FAILURE_MS).toBeGreaterThan(second.ms);

    const [ready, model, infer] = await Promise.all([
      timed({ method: 'GET', url: '/v2/health/ready' }),
      timed({ method: 'GET', url: '/v2/models/iris/ready' }),
      timed({
        method: 'POST',
        url: '/v2/models/iris/infer',
        headers: { 'conveyor-timeout-ms': '1000' },
        payload: IRIS,
      }),
    ]);
    expect(ready.response.statusCode).toBe(503);
    expect(ready.ms).toBeLessThan(1000 + SLACK_MS);
    expect(model.response.statusCode).toBe(503);
    expect(model.ms).toBeLessThan(PRODUCER_COMMAND_TIMEOUT_MS + COUNT_TIMEOUT_MS + SLACK_MS);
    // The deadline covers the back-pressure check and the enqueue, which Redis holds.
    expect(infer.response.statusCode).toBe(503);
    expect(infer.ms).toBeLessThan(1000 + DEADLINE_GRACE_MS + SLACK_MS);
    for (const { response } of [model, infer]) {
      const body = response.json<{ code: string; message: string }>();
      expect(body.code).toBe('ERR_QUEUE_UNAVAILABLE');
      expect(body.message).toMatch(
        new RegExp(`^Redis at 127\\.0\\.0\\.1:${redis.port} did not answer within \\d+ ms; check`),
      );
    }

    thaw();
    // The same connections answer again: no restart, no reconnection needed.
    const deadline = Date.now() + 5000;
    for (;;) {
      const again = await timed({ method: 'GET', url: '/v2/health/ready' });
      if (again.response.statusCode === 200) break;
      expect(Date.now()).toBeLessThan(deadline);
    }
    const served = await timed({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: { 'conveyor-timeout-ms': '5000' },
      payload: IRIS,
    });
    expect(served.response.statusCode).toBe(200);
    expect((await timed({ method: 'GET', url: '/v2/models/iris/ready' })).response.statusCode).toBe(
      200,
    );
  });
});
