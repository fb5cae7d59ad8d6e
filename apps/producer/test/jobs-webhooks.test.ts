import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Queue, type Queue as BullQueue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, queuePrefix, groupKey, queueKey } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { CALLBACKS_QUEUE } from '../src/webhooks/delivery.js';
import { irisInputs, modelQueue, startJobsProducer } from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
/** Two active secrets, as while keys rotate: every delivery is signed with both. */
const OLD_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const NEW_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
/** What a receiver runs: the standardwebhooks library's verify, which throws on a bad signature. */
const verify = (secret: string, delivery: Delivery) =>
  new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>);

interface Delivery {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A local webhook receiver: records every request and answers with the next queued status. */
async function startReceiver() {
  const deliveries: Delivery[] = [];
  const statuses: number[] = [];
  const waiters: (() => void)[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      deliveries.push({ path: request.url ?? '', headers: request.headers, body });
      response.statusCode = statuses.shift() ?? 200;
      response.end('ok');
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    deliveries,
    statuses,
    /** Resolves once `count` requests reached `path`. */
    async received(path: string, count: number): Promise<Delivery[]> {
      for (;;) {
        const got = deliveries.filter((d) => d.path === path);
        if (got.length >= count) return got;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Redis's MONITOR on a plain socket (ioredis's monitor mode can trip over the first lines): every
 * command Redis runs from then on, one lower-cased line each, in the order it ran them.
 */
async function monitorRedis(url: string) {
  const { hostname, port, password } = new URL(url);
  const socket = connect(Number(port || 6379), hostname);
  socket.setEncoding('utf8');
  let text = '';
  socket.on('data', (chunk: string) => (text += chunk));
  await once(socket, 'connect');
  const commands = password ? [`AUTH ${decodeURIComponent(password)}`, 'MONITOR'] : ['MONITOR'];
  socket.write(commands.map((c) => `${c}\r\n`).join(''));
  await expect.poll(() => text.split('+OK\r\n').length - 1).toBe(commands.length);
  return {
    lines: () => text.toLowerCase().split('\r\n'),
    close: () => socket.destroy(),
  };
}

describe('webhooks: a job outcome POSTed, signed, to its callback_url', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let iris: BullQueue;
  let callbacks: BullQueue;
  const config = testConfig(redisUrl, prefix, {
    WEBHOOK_SECRET: `${OLD_SECRET}, ${NEW_SECRET}`,
    WEBHOOK_BACKOFF_MS: '20',
    WEBHOOK_MAX_ATTEMPTS: '3',
    // The receiver listens on loopback, which the SSRF rules refuse unless the host is listed.
    WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  });

  beforeAll(async () => {
    worker = await startWorkerService(config, silent);
    producer = await startJobsProducer(config);
    receiver = await startReceiver();
    iris = modelQueue(redisUrl, prefix, 'iris');
    callbacks = new Queue(CALLBACKS_QUEUE, {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, CALLBACKS_QUEUE),
    });
  }, 60_000);

  afterAll(async () => {
    await iris?.close();
    await callbacks?.close();
    await producer?.close();
    await worker?.close();
    await receiver?.close();
    await dropPrefix(redisUrl, prefix);
  });

  const submit = async (
    app: TestProducer,
    path: string,
    parameters: Record<string, unknown> = {},
  ) => {
    const response = await app.app.inject({
      method: 'POST',
      url: '/v1/models/iris/jobs',
      payload: {
        inputs: irisInputs(),
        parameters: { callback_url: `${receiver.url}${path}`, ...parameters },
      },
    });
    expect(response.statusCode).toBe(202);
    return response.json<{ job_id: string }>().job_id;
  };

  it('delivers a completed job once, signed per Standard Webhooks under each secret', async () => {
    const id = await submit(producer, '/done');
    const [delivery] = await receiver.received('/done', 1);
    expect(delivery!.headers['content-type']).toBe('application/json');
    expect(delivery!.headers['conveyor-job-id']).toBe(id);
    expect(delivery!.headers['webhook-id']).toEqual(expect.any(String));
    expect(delivery!.headers['webhook-timestamp']).toMatch(/^[0-9]+$/);
    expect(delivery!.headers['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    // A receiver that knows only the old secret, or only the new one, accepts it.
    expect(verify(OLD_SECRET, delivery!)).toMatchObject({ job_id: id });
    expect(verify(NEW_SECRET, delivery!)).toMatchObject({ job_id: id });
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    expect(() => verify(other, delivery!)).toThrow(WebhookVerificationError);
    expect(() => verify(OLD_SECRET, { ...delivery!, body: `${delivery!.body} ` })).toThrow(
      WebhookVerificationError,
    );
    expect(JSON.parse(delivery!.body)).toMatchObject({
      job_id: id,
      model: 'iris',
      status: 'completed',
      result: { model_name: 'iris', outputs: [{ name: 'probabilities', shape: [3, 3] }] },
    });
  });

  it('delivers a failed job with its error code', async () => {
    const id = await submit(producer, '/failed', { deadline: Date.now() - 1000 });
    const [delivery] = await receiver.received('/failed', 1);
    expect(JSON.parse(delivery!.body)).toEqual({
      job_id: id,
      model: 'iris',
      status: 'failed',
      error: { code: 'ERR_DEADLINE_EXCEEDED', message: expect.any(String) as string, status: 504 },
    });
  });

  it('retries after a 500, with the same webhook-id and a fresh valid signature', async () => {
    receiver.statuses.push(500);
    const id = await submit(producer, '/retry');
    const [first, second] = await receiver.received('/retry', 2);
    expect(first!.headers['webhook-id']).toBe(second!.headers['webhook-id']);
    expect(second!.body).toBe(first!.body);
    expect(verify(NEW_SECRET, second!)).toMatchObject({ job_id: id });
    await expect.poll(async () => (await callbacks.getJob(id))?.getState()).toBe('completed');
  });

  it('does not retry a 404: the delivery fails for good after one try', async () => {
    receiver.statuses.push(404);
    const id = await submit(producer, '/gone');
    await receiver.received('/gone', 1);
    await expect.poll(async () => (await callbacks.getJob(id))?.getState()).toBe('failed');
    expect((await callbacks.getJob(id))?.attemptsMade).toBe(1);
    expect(receiver.deliveries.filter((d) => d.path === '/gone')).toHaveLength(1);
  });

  it('delivers a job that ended while no producer ran, once one starts again', async () => {
    await iris.pause();
    const id = await submit(producer, '/restart');
    await producer.close();
    await iris.resume();
    await expect.poll(() => iris.getJobState(id)).toBe('completed');
    producer = await startJobsProducer(config);
    const [delivery] = await receiver.received('/restart', 1);
    expect(JSON.parse(delivery!.body)).toMatchObject({ job_id: id, status: 'completed' });
  });

  it('stores the callback before the job exists, so no job is ever without it', async () => {
    // MONITOR lists every command Redis runs, those inside BullMQ's scripts included, in order.
    const monitor = await monitorRedis(redisUrl);
    try {
      const id = await submit(producer, '/ordered');
      await receiver.received('/ordered', 1);
      const lines = monitor.lines();
      const stored = lines.findIndex((l) =>
        l.includes(`"set" "${groupKey(prefix, 'webhooks', 'url', id)}"`.toLowerCase()),
      );
      const created = lines.findIndex((l) =>
        l.includes(`"hmset" "${queueKey(prefix, 'predict.iris.1', id)}"`.toLowerCase()),
      );
      expect(stored).toBeGreaterThanOrEqual(0);
      expect(created).toBeGreaterThan(stored);
    } finally {
      monitor.close();
    }
  });

  it('forgets the callback of a job whose enqueue was refused', async () => {
    const redis = new Redis(redisUrl);
    try {
      const pending = () => redis.zrange(groupKey(prefix, 'webhooks', 'pending'), '0', '-1');
      const before = await pending();
      const response = await producer.app.inject({
        method: 'POST',
        url: '/v1/models/iris/jobs',
        payload: {
          inputs: { features: { shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] } },
          parameters: { callback_url: `${receiver.url}/refused` },
        },
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'ERR_INPUT_SHAPE' });
      const left = (await pending()).filter((id) => !before.includes(id));
      expect(left).toEqual([]);
      const urls = await redis.keys(groupKey(prefix, 'webhooks', 'url', '*'));
      expect(urls.filter((key) => !before.some((id) => key.endsWith(`:${id}`)))).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it("delivers every job of a batch, keeping an item's own idempotency key as its job id", async () => {
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v1/models/iris/jobs:batch',
      payload: {
        items: [
          { inputs: irisInputs([[5.1, 3.5, 1.4, 0.2]]) },
          { inputs: irisInputs([[6.7, 3.0, 5.2, 2.3]]), idempotency_key: `own-${prefix}` },
          { inputs: irisInputs([[6.0, 2.7, 4.5, 1.5]]) },
        ],
        parameters: { callback_url: `${receiver.url}/batch` },
      },
    });
    expect(response.statusCode).toBe(202);
    const { job_ids: ids } = response.json<{ job_ids: string[] }>();
    expect(ids[1]).toBe(
      await producer.client.jobIdFor('iris', { idempotencyKey: `own-${prefix}` }),
    );
    const delivered = await receiver.received('/batch', 3);
    expect(delivered.map((d) => d.headers['conveyor-job-id']).sort()).toEqual([...ids].sort());
    for (const d of delivered) expect(JSON.parse(d.body)).toMatchObject({ status: 'completed' });
  });

  it('delivers each job once when several producer replicas run', async () => {
    const second = await startJobsProducer(config);
    try {
      const ids = await Promise.all(
        Array.from({ length: 6 }, (_, i) => submit(i % 2 === 0 ? producer : second, '/replicas')),
      );
      await receiver.received('/replicas', 6);
      await Promise.all(
        ids.map((id) =>
          expect.poll(async () => (await callbacks.getJob(id))?.getState()).toBe('completed'),
        ),
      );
      const delivered = receiver.deliveries
        .filter((d) => d.path === '/replicas')
        .map((d) => d.headers['conveyor-job-id']);
      expect([...delivered].sort()).toEqual([...ids].sort());
    } finally {
      await second.close();
    }
  });
});
