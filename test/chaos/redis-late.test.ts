import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from '@conveyor/sdk';
import { freePort } from '../../scripts/lib/redis-server.js';
import { uniquePrefix } from '../support/prefix.js';
import { recordScenario } from './summary.js';
import {
  startApp,
  startPersistentRedis,
  type AppProcess,
  type PersistentRedis,
} from './support.js';

const RETRY_LINE = 'redis did not answer at start; retrying';

describe('Redis unreachable when the worker and the producer start', () => {
  const prefix = uniquePrefix();
  let redis: PersistentRedis | undefined;
  const apps: AppProcess[] = [];

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop('SIGKILL')));
    await redis?.stop();
  });

  it('logs one line per attempt with a growing delay, and starts serving once Redis comes up', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const worker = startApp('worker', url, prefix);
    // Port 0: a port chosen now could be taken (by a connection's own local port, say) in the
    // seconds before the producer listens; the ready line names the port it bound.
    const producer = startApp('producer', url, prefix, { PRODUCER_PORT: '0' });
    apps.push(worker, producer);
    // Several attempts fail: 0.5 s, 1 s, 2 s apart.
    await Promise.all([worker.logged(RETRY_LINE), producer.logged(RETRY_LINE)]);
    await sleep(3500);
    expect(worker.child.exitCode).toBeNull();
    expect(producer.child.exitCode).toBeNull();

    redis = await startPersistentRedis('everysec', port);
    const [, ready] = await Promise.all([
      worker.logged('worker ready'),
      producer.logged('producer ready'),
    ]);
    const producerPort = ready.port as number;
    expect(producerPort).toBeGreaterThan(0);

    for (const app of [worker, producer]) {
      const retries = app.logs.filter((r) => r.msg === RETRY_LINE);
      expect(retries.length).toBeGreaterThanOrEqual(2);
      expect(retries.length).toBeLessThanOrEqual(8);
      const delays = retries.map((r) => r.retryInMs as number);
      expect(delays[0]).toBe(500);
      for (let i = 1; i < delays.length; i++)
        expect(delays[i]).toBe(Math.min((delays[i - 1] ?? 0) * 2, 10_000));
      expect(retries.every((r) => r.code === 'ERR_QUEUE_UNAVAILABLE')).toBe(true);
      expect(app.logs.some((r) => r.level === 60)).toBe(false);
      // No crash-loop spam: the whole start-up is a handful of lines.
      expect(app.logs.length).toBeLessThan(30);
    }

    // Both serve: a job through the SDK, and one through the producer's HTTP API.
    const client = await createClient({ redisUrl: redis.url, prefix });
    try {
      const prediction = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
      expect(prediction.outputs.probabilities?.shape).toEqual([1, 3]);
    } finally {
      await client.close();
    }
    const res = await fetch(`http://127.0.0.1:${producerPort}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
      }),
    });
    expect(res.status).toBe(200);

    recordScenario({
      scenario: 'redis unreachable at start',
      faults: 'worker and producer started ~5 s before Redis',
      submitted: 2,
      completed: 2,
      lost: 0,
      duplicated: 0,
      note: `start-up retry lines: worker ${worker.logs.filter((r) => r.msg === RETRY_LINE).length}, producer ${producer.logs.filter((r) => r.msg === RETRY_LINE).length}`,
    });
  });

  it('stops at once with exit 0 when SIGTERM or SIGINT arrives while it waits for Redis', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const worker = startApp('worker', url, prefix);
    const producer = startApp('producer', url, prefix, { PRODUCER_PORT: '0' });
    apps.push(worker, producer);
    await Promise.all([worker.logged(RETRY_LINE), producer.logged(RETRY_LINE)]);
    const [workerCode, producerCode] = await Promise.all([
      worker.stop('SIGTERM'),
      producer.stop('SIGINT'),
    ]);
    expect(workerCode).toBe(0);
    expect(producerCode).toBe(0);
    expect(producer.logs.some((r) => r.msg === 'producer stopped')).toBe(true);
    for (const app of [worker, producer]) expect(app.logs.some((r) => r.level === 60)).toBe(false);
  });
});
