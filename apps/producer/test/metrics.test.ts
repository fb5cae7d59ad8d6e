import type { AddressInfo } from 'node:net';
import {
  credentials,
  makeGenericClientConstructor,
  status,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, queueName, queuePrefix } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { buildApp, type App } from '../src/app.js';
import { loadInferenceService } from '../src/grpc/proto.js';
import { runProducer } from '../src/run-producer.js';
import { parseExposition, valueOf, type Sample } from './prometheus-text.js';
import { startProducer, testConfig, unusedClient, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
const LIMIT = 2;
const INFER_ROUTE = '/v2/models/:name/infer';

const iris = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
};

/** The samples of the app's /metrics, scraped with `headers`. */
async function scrape(app: App, headers: Record<string, string> = {}): Promise<Sample[]> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(response.body);
}

describe('producer metrics against a real worker', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let queue: Queue;

  beforeAll(async () => {
    worker = await startWorkerService(testConfig(redisUrl, prefix, { MODELS: 'iris' }), silent);
    producer = await startProducer(testConfig(redisUrl, prefix));
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
    await dropPrefix(redisUrl, prefix);
  });

  const infer = (model: string, headers: Record<string, string> = {}, app = producer.app) =>
    app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      payload: iris,
      headers,
    });
  /** A request's count once its onResponse hook ran (it runs after the answer is sent). */
  const countOf = (labels: Record<string, string>, app = producer.app) =>
    expect.poll(
      async () => valueOf(await scrape(app), 'conveyor_http_requests_total', labels) ?? 0,
    );

  it('counts requests by method, route pattern, status and catalogue model, and times them', async () => {
    expect((await infer('iris')).statusCode).toBe(200);
    expect((await infer('iris')).statusCode).toBe(200);
    expect((await producer.app.inject({ method: 'GET', url: '/v2/models/iris' })).statusCode).toBe(
      200,
    );

    const inferred = { method: 'POST', route: INFER_ROUTE, status: '200', model: 'iris' };
    await countOf(inferred).toBe(2);
    await countOf({ method: 'GET', route: '/v2/models/:name', status: '200', model: 'iris' }).toBe(
      1,
    );
    const samples = await scrape(producer.app);
    const timed = { method: 'POST', route: INFER_ROUTE, model: 'iris' };
    expect(valueOf(samples, 'conveyor_http_request_duration_seconds_count', timed)).toBe(2);
    expect(
      valueOf(samples, 'conveyor_http_request_duration_seconds_bucket', { ...timed, le: '+Inf' }),
    ).toBe(2);
    expect(valueOf(samples, 'conveyor_http_request_duration_seconds_sum', timed)).toBeGreaterThan(
      0,
    );
    // The routes the scrapes themselves took are counted too, without a model.
    expect(
      valueOf(samples, 'conveyor_http_requests_total', {
        route: '/metrics',
        status: '200',
        model: '',
      }),
    ).toBeGreaterThan(0);
  });

  it('labels model names the catalogue does not know "other", and never a raw URL', async () => {
    const statuses = new Set<number>();
    for (let i = 0; i < 5; i++) statuses.add((await infer(`no-such-model-${i}`)).statusCode);
    expect([...statuses]).toHaveLength(1);
    const [status] = [...statuses];
    await countOf({ route: INFER_ROUTE, status: String(status), model: 'other' }).toBe(5);
    const unmatched = await producer.app.inject({ method: 'GET', url: '/not/a/route/x1' });
    expect(unmatched.statusCode).toBe(404);
    await countOf({ method: 'GET', route: 'unmatched', status: '404', model: '' }).toBe(1);

    const samples = await scrape(producer.app);
    const http = samples.filter((s) => s.name.startsWith('conveyor_http_'));
    expect(http.filter((s) => /no-such-model|x1/.test(JSON.stringify(s.labels)))).toEqual([]);
    const models = new Set(http.map((s) => s.labels.model).filter((m) => m !== undefined));
    expect([...models].sort()).toEqual(['', 'iris', 'other']);
  });

  it('counts a 429 from a full queue as a queue_full refusal', async () => {
    // A producer of its own: its queue depth reading starts from the empty queue.
    const limited = await startProducer(
      testConfig(redisUrl, prefix, { QUEUE_DEPTH_BY_MODEL: JSON.stringify({ iris: LIMIT }) }),
    );
    try {
      await queue.pause();
      for (let i = 0; i < LIMIT; i++) {
        const accepted = await infer('iris', { prefer: 'respond-async' }, limited.app);
        expect(accepted.statusCode).toBe(202);
      }
      const refused = await infer('iris', {}, limited.app);
      expect(refused.statusCode).toBe(429);
      expect(refused.json<{ code: string }>().code).toBe('ERR_QUEUE_FULL');

      await countOf({ route: INFER_ROUTE, status: '429', model: 'iris' }, limited.app).toBe(1);
      const samples = await scrape(limited.app);
      expect(valueOf(samples, 'conveyor_http_refusals_total', { reason: 'queue_full' })).toBe(1);
      expect(valueOf(samples, 'conveyor_http_refusals_total', { reason: 'rate_limited' })).toBe(0);
      // The 202s are timed as the acceptance of their jobs.
      const accepted = { route: INFER_ROUTE, status: '202', model: 'iris' };
      expect(valueOf(samples, 'conveyor_http_requests_total', accepted)).toBe(LIMIT);
    } finally {
      await queue.resume();
      await limited.close();
    }
  });
});

describe('queue metrics of a running producer', () => {
  it('exports the jobs, oldest wait, workers and backlog of a paused queue as the status reads them', async () => {
    const keyPrefix = uniquePrefix();
    const worker = await startWorkerService(
      testConfig(redisUrl, keyPrefix, { MODELS: 'iris' }),
      silent,
    );
    const producer = await startProducer(testConfig(redisUrl, keyPrefix));
    const paused = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(keyPrefix, queueName('iris', '1')),
    });
    try {
      await paused.pause();
      const flower = { features: [[5.1, 3.5, 1.4, 0.2]] };
      for (let i = 0; i < 3; i++) await producer.client.enqueue('iris', flower);
      await producer.client.enqueue('iris', flower, { priority: 5 });
      expect(await paused.getJobCounts('waiting', 'prioritized')).toEqual({
        waiting: 3,
        prioritized: 1,
      });

      const iris1 = { model: 'iris', version: '1' };
      const gauges = async () => {
        const samples = await scrape(producer.app);
        const jobs = (state: string) =>
          valueOf(samples, 'conveyor_queue_jobs', { ...iris1, state });
        return {
          up: valueOf(samples, 'conveyor_status_up'),
          jobs: ['waiting', 'prioritized', 'delayed', 'active', 'failed'].map(jobs),
          workers: valueOf(samples, 'conveyor_queue_workers', iris1),
          waited: (valueOf(samples, 'conveyor_queue_oldest_waiting_seconds', iris1) ?? 0) > 0,
        };
      };
      // A scrape may reuse the read of the second before the jobs were added; on a loaded host
      // (CI) the worker's record may come later than the 1 s expect.poll waits by default.
      await expect
        .poll(gauges, { timeout: 10_000 })
        .toEqual({ up: 1, jobs: [3, 1, 0, 0, 0], workers: 1, waited: true });
      const backlog = valueOf(await scrape(producer.app), 'conveyor_queue_backlog_seconds', iris1);
      // No job has been served yet, so the service time may be unknown; never +Inf with a worker.
      if (backlog !== undefined) expect(Number.isFinite(backlog) && backlog >= 0).toBe(true);

      // Once the worker is gone, the jobs wait with no one to do them: an infinite backlog.
      await worker.close();
      await expect
        .poll(async () =>
          valueOf(await scrape(producer.app), 'conveyor_queue_backlog_seconds', iris1),
        )
        .toBe(Infinity);
    } finally {
      await paused.close();
      await producer.close();
      await worker.close();
      await dropPrefix(redisUrl, keyPrefix);
    }
  });
});

describe('gRPC metrics of a running producer', () => {
  type Unary = (request: object, callback: (error: ServiceError | null) => void) => void;

  it('counts gRPC calls by method, status code and model on the HTTP /metrics', async () => {
    const workerPrefix = uniquePrefix();
    const worker = await startWorkerService(
      testConfig(redisUrl, workerPrefix, { MODELS: 'iris' }),
      silent,
    );
    const run = runProducer(
      testConfig(redisUrl, workerPrefix, {
        PRODUCER_HOST: '127.0.0.1',
        PRODUCER_PORT: '0',
        GRPC_HOST: '127.0.0.1',
        GRPC_PORT: '0',
        SHUTDOWN_TIMEOUT_MS: '2000',
      }),
      createLogger({ level: 'silent', component: 'producer' }),
    );
    try {
      const app = await run.started;
      const Constructor = makeGenericClientConstructor(
        loadInferenceService(),
        'GRPCInferenceService',
      );
      const client = new Constructor(
        `127.0.0.1:${run.grpcPort ?? 0}`,
        credentials.createInsecure(),
      ) as Client & Record<string, Unary>;
      const call = (rpc: string, request: object) =>
        new Promise<ServiceError | null>((resolve) => {
          client[rpc]?.(request, resolve);
        });
      expect(await call('ModelReady', { name: 'iris' })).toBeNull();
      expect(await call('ServerLive', {})).toBeNull();
      const unknown = await call('ModelReady', { name: 'no-such-model' });
      expect(unknown?.code).toBe(status.NOT_FOUND);
      client.close();

      const { port } = app.server.address() as AddressInfo;
      const scrapeHttp = async () =>
        parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      const grpcCount = (labels: Record<string, string>) =>
        expect.poll(
          async () => valueOf(await scrapeHttp(), 'conveyor_grpc_requests_total', labels) ?? 0,
        );
      await grpcCount({ method: 'ModelReady', code: 'OK', model: 'iris' }).toBe(1);
      await grpcCount({ method: 'ServerLive', code: 'OK', model: '' }).toBe(1);
      await grpcCount({ method: 'ModelReady', code: 'NOT_FOUND', model: 'other' }).toBe(1);
    } finally {
      await run.stop();
      await worker.close();
      await dropPrefix(redisUrl, workerPrefix);
    }
  });
});

describe('producer metrics with API keys', () => {
  const INFER = 'infer-secret-0123456789abcdef';
  const ADMIN = 'admin-secret-0123456789abcdef';
  const admin = { authorization: `Bearer ${ADMIN}` };
  const inferKey = { authorization: `Bearer ${INFER}` };
  let app: App;

  beforeAll(async () => {
    app = buildApp(
      testConfig(redisUrl, uniquePrefix(), {
        API_KEYS: `ci:infer:${INFER},ops:admin:${ADMIN}`,
        MAX_BODY_BYTES: '2048',
        RATE_LIMIT_MAX: '3',
        RATE_LIMIT_WINDOW_MS: '60000',
        RATE_LIMIT_STORE: 'memory',
      }),
      {
        client: unusedClient(),
        redisPing: () => Promise.resolve(true),
        logger: createLogger({ level: 'silent', component: 'producer' }),
      },
    );
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  const refusals = async (reason: string) =>
    valueOf(await scrape(app, admin), 'conveyor_http_refusals_total', { reason });

  it('refuses /metrics without a key (401) and with an infer key (403), and counts both', async () => {
    const none = await app.inject({ method: 'GET', url: '/metrics' });
    expect(none.statusCode).toBe(401);
    expect(none.json<{ code: string }>().code).toBe('ERR_UNAUTHORIZED');
    const infer = await app.inject({ method: 'GET', url: '/metrics', headers: inferKey });
    expect(infer.statusCode).toBe(403);
    expect(infer.json<{ code: string }>().code).toBe('ERR_FORBIDDEN');
    expect(infer.body).not.toContain('conveyor_http_requests_total');

    await expect.poll(() => refusals('unauthorized')).toBe(1);
    await expect.poll(() => refusals('forbidden')).toBe(1);
  });

  it('counts a body over MAX_BODY_BYTES as too_large and the request over the limit as rate_limited', async () => {
    const large = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: { ...inferKey, 'content-type': 'application/json' },
      payload: JSON.stringify({ inputs: [], pad: 'x'.repeat(4096) }),
    });
    expect(large.statusCode).toBe(413);
    await expect.poll(() => refusals('too_large')).toBe(1);

    // The limit counts per key: the infer key has used one request so far.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        (await app.inject({ method: 'GET', url: '/v2', headers: inferKey })).statusCode,
      );
    expect(statuses).toEqual([200, 200, 429]);
    await expect.poll(() => refusals('rate_limited')).toBe(1);
  });

  it('never rate-limits the scrapes of the admin key', async () => {
    for (let i = 0; i < 5; i++) await scrape(app, admin);
  });
});
