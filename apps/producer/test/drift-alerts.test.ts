import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { QueueClient } from '@conveyor/sdk';
import {
  alertStateKey,
  alertVersionsKey,
  alertsKey,
  computeBaseline,
  createLogger,
  loadConfig,
  predictionLogKey,
  type Config,
} from '@conveyor/shared';
import type { App } from '../src/app.js';
import { startWorkerService } from '../../worker/src/worker-service.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { tempRepository } from '../../../test/support/repository.js';
import { startProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] as const;
const MEANS = [5.8, 3.0, 3.8, 1.2];
const STDS = [0.8, 0.4, 1.7, 0.7];

/** A seeded generator of normal draws (mulberry32 and Box–Muller): the same rows every run. */
function normals(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** `count` iris-like rows, every feature moved by `shift` of its standard deviation. */
function rows(draw: () => number, count: number, shift = 0): number[][] {
  return Array.from({ length: count }, () =>
    MEANS.map((mean, i) => mean + (STDS[i] as number) * (draw() + shift)),
  );
}

interface Delivery {
  headers: Record<string, string>;
  body: string;
}

async function startReceiver() {
  const deliveries: Delivery[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      deliveries.push({ headers: request.headers as Record<string, string>, body });
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/drift`;
  return { url, deliveries, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** A worker, a client and a producer app with alerts on, over iris 1 whose model.json `edit` sets. */
async function startAlerts(
  keyPrefix: string,
  edit: (config: Record<string, unknown>, webhook: string) => void,
  env: Record<string, string>,
) {
  const receiver = await startReceiver();
  const repository = await tempRepository({ iris: ['1'] });
  const file = join(repository.root, 'iris', '1', 'model.json');
  const model = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(model, receiver.url);
  await writeFile(file, JSON.stringify(model));
  const config: Config = loadConfig({
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: keyPrefix,
    MODEL_REPOSITORY: repository.root,
    LOG_LEVEL: 'silent',
    DRIFT_ALERT_INTERVAL_MS: '200',
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_BACKOFF_MS: '20',
    // The receiver listens on loopback, which the SSRF rules refuse unless the host is listed.
    WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    ...env,
  });
  const startWorker = () =>
    startWorkerService(config, createLogger({ level: 'silent', component: 'worker' }));
  let worker = await startWorker();
  const producer = await startProducer(config);
  const redis = new Redis(redisUrl);
  return {
    receiver,
    client: producer.client,
    app: producer.app,
    redis,
    /** Stops the worker, runs `between`, and starts a new one over the same repository. */
    async restartWorker(between: () => Promise<unknown>) {
      await worker.close();
      await between();
      worker = await startWorker();
    },
    async close() {
      await producer.close();
      await worker.close();
      redis.disconnect();
      await receiver.close();
      await repository.remove();
      await dropPrefix(redisUrl, keyPrefix);
    },
  };
}

describe('drift: a worker counts inputs against the baseline, the producer fires alerts', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let client: QueueClient;
  let app: App;
  let redis: Redis;
  const draw = normals(7);
  // Sends rows in jobs of 50 rows each.
  const send = async (count: number, shift = 0) => {
    for (let sent = 0; sent < count; sent += 50)
      await client.predict('iris', { features: rows(draw, 50, shift) });
  };

  let harness: Awaited<ReturnType<typeof startAlerts>>;
  beforeAll(async () => {
    const training = rows(normals(1), 2000);
    const columns = new Map(FEATURES.map((name, i) => [name, training.map((r) => r[i] as number)]));
    harness = await startAlerts(
      prefix,
      (config, webhook) => {
        config.baseline = computeBaseline(columns, 10);
        config.alerts = { driftPsi: 0.5, window: '3s', minRows: 100, webhook };
      },
      { DRIFT_FLUSH_MS: '100', DRIFT_SLICE_MS: '1000' },
    );
    ({ receiver, client, app, redis } = harness);
  }, 60_000);

  afterAll(() => harness?.close());

  it('scores inputs like the training data low and shifted ones high, per feature', async () => {
    await send(500);
    await expect
      .poll(async () => (await client.drift('iris', { windowMs: 60_000 })).versions[0]?.rows, {
        timeout: 10_000,
      })
      .toBe(500);
    const low = (await client.drift('iris', { windowMs: 60_000 })).versions[0];
    expect(low?.features.map((f) => f.name)).toEqual(FEATURES);
    expect(low?.score).toBeLessThan(0.1);
    for (const feature of low?.features ?? []) {
      expect(feature.ks?.pValue).toBeGreaterThan(0.01);
      expect(feature.mean).toBeCloseTo(feature.baselineMean, 0);
    }
    expect(receiver.deliveries).toHaveLength(0);

    // The HTTP route and the metric read the same statistics.
    const http = await app.inject({ url: '/v1/models/iris/drift?window=1m' });
    expect(http.statusCode).toBe(200);
    expect(http.json<{ versions: { rows: number }[] }>().versions[0]?.rows).toBe(500);
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(
      /conveyor_drift_psi\{model="iris",version="1",feature="petal_width"\} 0\.0/,
    );
  }, 30_000);

  it('fires one signed event when drift crosses the threshold, none while it stays above', async () => {
    // The rows of the test before leave the 3 s window first, so the shifted ones are all it holds.
    const inWindow = async () =>
      (await client.drift('iris', { windowMs: 3000 })).versions[0]?.rows ?? 0;
    await expect.poll(inWindow, { timeout: 15_000, interval: 200 }).toBe(0);
    await send(300, 2);
    await expect.poll(() => receiver.deliveries.length, { timeout: 10_000 }).toBe(1);
    const shifted = (await client.drift('iris', { windowMs: 3000 })).versions[0];
    expect(shifted?.score).toBeGreaterThan(0.5);
    expect(shifted?.features.every((f) => (f.chiSquare?.pValue ?? 1) < 1e-6)).toBe(true);
    // Stays above the threshold for several checks: no second event.
    for (let i = 0; i < 5; i++) {
      await send(100, 2);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(receiver.deliveries).toHaveLength(1);
    const [delivery] = receiver.deliveries as [Delivery];
    const event = new Webhook(SECRET).verify(delivery.body, delivery.headers) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(event.type).toBe('model.drift');
    expect(event.data).toMatchObject({ model: 'iris', version: '1', metric: 'drift_psi' });
    expect(event.data).toMatchObject({ window: '3s', windowMs: 3000, threshold: 0.5 });
    expect(event.data.value).toBeGreaterThan(0.5);
    expect(() =>
      new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(
        delivery.body,
        delivery.headers,
      ),
    ).toThrow();
  }, 30_000);

  it('fires again only after the drift recovered and crossed once more', async () => {
    // Inputs like the training data until the shifted ones have left the 3 s window.
    await expect
      .poll(
        async () => {
          await send(100);
          return redis.exists(`${prefix}:{iris}:alert:1:drift_psi`);
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(0);
    expect(receiver.deliveries).toHaveLength(1);
    await send(300, 2);
    await expect.poll(() => receiver.deliveries.length, { timeout: 10_000 }).toBe(2);
    const ids = receiver.deliveries.map((d) => d.headers['webhook-id']);
    expect(new Set(ids).size).toBe(2);
  }, 40_000);
});

describe('accuracy alerts: feedback against the answers, one signed event when it falls', () => {
  const accuracyPrefix = uniquePrefix();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let client: QueueClient;

  let harness: Awaited<ReturnType<typeof startAlerts>>;
  beforeAll(async () => {
    harness = await startAlerts(
      accuracyPrefix,
      (config, webhook) => {
        config.alerts = { accuracyBelow: 0.9, window: '5m', minRows: 5, webhook };
      },
      { PREDICTION_LOG_SAMPLE: '1' },
    );
    ({ receiver, client } = harness);
  }, 60_000);

  afterAll(() => harness?.close());

  it('fires model.accuracy once when labelled answers fall below accuracyBelow', async () => {
    const draw = normals(3);
    let scored = 0;
    for (const row of rows(draw, 8)) {
      const { jobId, outputs } = await client.predict('iris', { features: [row] });
      const probabilities = [...(outputs.probabilities!.data as Float32Array)];
      const top = probabilities.indexOf(Math.max(...probabilities));
      // The truth is never the model's answer: live accuracy 0.
      const label = (top + 1) % 3;
      await expect
        .poll(() =>
          client.feedback(jobId, { label }).then(
            () => true,
            () => false,
          ),
        )
        .toBe(true);
      scored += 1;
    }
    expect(scored).toBe(8);
    await expect.poll(() => receiver.deliveries.length, { timeout: 10_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(receiver.deliveries).toHaveLength(1);
    const [delivery] = receiver.deliveries as [Delivery];
    const event = new Webhook(SECRET).verify(delivery.body, delivery.headers) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(event.type).toBe('model.accuracy');
    expect(event.data).toMatchObject({
      model: 'iris',
      version: '1',
      metric: 'accuracy',
      threshold: 0.9,
      value: 0,
      rows: 8,
    });
  }, 40_000);
});

describe('alerts of a version that takes no traffic: feedback alone fires and clears them', () => {
  const idlePrefix = uniquePrefix();
  let harness: Awaited<ReturnType<typeof startAlerts>>;

  beforeAll(async () => {
    harness = await startAlerts(
      idlePrefix,
      (config, webhook) => {
        config.alerts = { accuracyBelow: 0.5, window: '5m', minRows: 4, webhook };
      },
      { PREDICTION_LOG_SAMPLE: '1', DRIFT_FLUSH_MS: '100' },
    );
  }, 60_000);

  afterAll(() => harness?.close());

  it('judges a version whose published alerts expired and that ran no job since', async () => {
    const { client, redis, receiver } = harness;
    const answers: { jobId: string; top: number }[] = [];
    for (const row of rows(normals(5), 14)) {
      const { jobId, outputs } = await client.predict('iris', { features: [row] });
      const probabilities = [...(outputs.probabilities!.data as Float32Array)];
      answers.push({ jobId, top: probabilities.indexOf(Math.max(...probabilities)) });
    }
    await expect.poll(() => redis.xlen(predictionLogKey(idlePrefix, 'iris'))).toBe(14);
    // What a day without jobs does to the published alerts (their TTL), then a new worker that
    // loads the version and serves it no job.
    await harness.restartWorker(() =>
      redis.del(alertsKey(idlePrefix, 'iris', '1'), alertVersionsKey(idlePrefix, 'iris')),
    );
    const send = async (from: number, to: number, right: boolean) => {
      for (const { jobId, top } of answers.slice(from, to))
        await client.feedback(jobId, { label: right ? top : (top + 1) % 3 });
    };
    const state = alertStateKey(idlePrefix, 'iris', '1', 'accuracy');
    await send(0, 4, false);
    await expect.poll(() => receiver.deliveries.length, { timeout: 10_000 }).toBe(1);
    // 4 of 8 right: 0.5 is not below 0.5, the crossing is over.
    await send(4, 8, true);
    await expect.poll(() => redis.exists(state), { timeout: 10_000 }).toBe(0);
    expect(receiver.deliveries).toHaveLength(1);
    // 4 of 14 right: a new crossing, a new event.
    await send(8, 14, false);
    await expect.poll(() => receiver.deliveries.length, { timeout: 10_000 }).toBe(2);
    const events = receiver.deliveries.map(
      (d) => new Webhook(SECRET).verify(d.body, d.headers) as { data: Record<string, unknown> },
    );
    expect(events[0]?.data).toMatchObject({ version: '1', metric: 'accuracy', rows: 4, value: 0 });
    // Judged as soon as the window fell below again: after 9 to 14 labels.
    const second = events[1]?.data as { rows: number; value: number };
    expect(second.rows).toBeGreaterThanOrEqual(9);
    expect(second.value).toBeCloseTo(4 / second.rows, 9);
  }, 40_000);
});
