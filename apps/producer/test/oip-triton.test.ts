import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, queueName, queueKey } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { copyCatalogue, dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type { ErrorBody, InferResponse } from '../src/oip/schemas.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

/**
 * Triton's extensions on REST: the schedule policy's `timeout` (µs) and `priority`, the model
 * configuration and statistics routes, compressed bodies, and the request `id` echoed.
 */
const redisUrl = inject('redisUrl');
/** A worker serves iris here. */
const prefix = uniquePrefix();
/** iris is announced but no worker runs until a test starts one. */
const idlePrefix = uniquePrefix();
/** iris is announced and no worker ever runs: every job waits. */
const noWorkerPrefix = uniquePrefix();
/** Jobs of several priorities wait here for a worker of concurrency 1. */
const priorityPrefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];

const irisBody = (extra: Record<string, unknown> = {}, rows: number[][] = ROWS) => ({
  inputs: [{ name: 'features', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }],
  ...extra,
});

type Inject = TestProducer['app']['inject'];
const post = (
  inject: Inject,
  url: string,
  payload: unknown,
  headers: Record<string, string> = {},
) =>
  inject({
    method: 'POST',
    url,
    payload: payload as Record<string, unknown>,
    headers,
  });

/** The ids of a queue's jobs in the order its event stream says they completed. */
async function completionOrder(redisPrefix: string): Promise<string[]> {
  const redis = new Redis(redisUrl);
  try {
    const entries = await redis.xrange(
      queueKey(redisPrefix, queueName('iris', '1'), 'events'),
      '-',
      '+',
    );
    const ids: string[] = [];
    for (const [, fields] of entries) {
      const record = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2)
        record.set(fields[i] ?? '', fields[i + 1] ?? '');
      const jobId = record.get('jobId');
      if (record.get('event') === 'completed' && jobId !== undefined) ids.push(jobId);
    }
    return ids;
  } finally {
    redis.disconnect();
  }
}

describe('Triton extensions on /v2', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let idle: TestProducer;
  let stuck: TestProducer;
  const late: WorkerService[] = [];
  const producers: TestProducer[] = [];

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix, { MODELS: 'iris' });
    worker = await startWorkerService(config, silent);
    producer = await startProducer(config);
    await copyCatalogue(redisUrl, prefix, idlePrefix, ['iris@1']);
    await copyCatalogue(redisUrl, prefix, priorityPrefix, ['iris@1']);
    await copyCatalogue(redisUrl, prefix, noWorkerPrefix, ['iris@1']);
    idle = await startProducer(testConfig(redisUrl, idlePrefix));
    stuck = await startProducer(testConfig(redisUrl, noWorkerPrefix));
  }, 60_000);

  afterAll(async () => {
    for (const p of producers) await p.close();
    await stuck?.close();
    await idle?.close();
    await producer?.close();
    for (const w of late) await w.close();
    await worker?.close();
    for (const p of [prefix, idlePrefix, priorityPrefix, noWorkerPrefix])
      await dropPrefix(redisUrl, p);
  });

  const infer = (payload: unknown, headers: Record<string, string> = {}) =>
    post(producer.app.inject.bind(producer.app), '/v2/models/iris/infer', payload, headers);

  describe('the request id', () => {
    it('echoes the id of the request', async () => {
      const response = await infer(irisBody({ id: 'abc-1' }));
      expect(response.statusCode).toBe(200);
      expect(response.json<InferResponse>().id).toBe('abc-1');
    });

    it('leaves id out when the request has none; the job id is in Conveyor-Job-Id', async () => {
      const response = await infer(irisBody());
      expect(response.statusCode).toBe(200);
      expect(response.json()).not.toHaveProperty('id');
      expect(response.headers['conveyor-job-id']).toMatch(/^iris\.1\./);
    });
  });

  describe('parameters.timeout in microseconds (schedule policy)', () => {
    it('answers ERR_JOB_TIMEOUT once a timeout of 150000 µs has passed with no worker', async () => {
      // Read as milliseconds this would wait 150 s, past the test's own timeout.
      const response = await post(
        stuck.app.inject.bind(stuck.app),
        '/v2/models/iris/infer',
        irisBody({ parameters: { timeout: 150_000 } }),
      );
      expect(response.statusCode).toBe(504);
      const body = response.json<ErrorBody>();
      expect(body.code).toBe('ERR_JOB_TIMEOUT');
      expect(response.headers['conveyor-job-id']).toBe(body.job_id);
    });

    it('accepts 100 s (100000000 µs), which milliseconds refused, and answers in time', async () => {
      const response = await infer(irisBody({ parameters: { timeout: 100_000_000 } }));
      expect(response.statusCode).toBe(200);
    });

    it('keeps waiting under a larger timeout until a worker starts, then answers', async () => {
      const pending = post(
        idle.app.inject.bind(idle.app),
        '/v2/models/iris/infer',
        irisBody({ id: 'patient', parameters: { timeout: 60_000_000 } }),
      );
      late.push(
        await startWorkerService(testConfig(redisUrl, idlePrefix, { MODELS: 'iris' }), silent),
      );
      const response = await pending;
      expect(response.statusCode).toBe(200);
      expect(response.json<InferResponse>().id).toBe('patient');
    }, 60_000);

    it.each([
      ['0', 0],
      ['a fraction', 1.5],
      ['a negative value', -5],
      ['over 24 h', 86_400_000_001],
      ['a string', '2000000'],
    ])('refuses %s with ERR_VALIDATION naming parameters.timeout', async (_, timeout) => {
      const response = await infer(irisBody({ parameters: { timeout } }));
      expect(response.statusCode).toBe(400);
      const body = response.json<ErrorBody>();
      expect(body.code).toBe('ERR_VALIDATION');
      expect(body.issues?.map((i) => i.path)).toContain('body.parameters.timeout');
    });

    it('keeps the Conveyor-Timeout-Ms header in milliseconds', async () => {
      const response = await post(
        stuck.app.inject.bind(stuck.app),
        '/v2/models/iris/versions/1/infer',
        irisBody(),
        { 'conveyor-timeout-ms': '150' },
      );
      expect(response.statusCode).toBe(504);
      expect(response.json<ErrorBody>().code).toBe('ERR_JOB_TIMEOUT');
    });
  });

  describe('parameters.priority (schedule policy)', () => {
    it('runs waiting jobs as Triton orders them: 0, 1 and none first in arrival order, then 2, then 3', async () => {
      const waiting = await startProducer(testConfig(redisUrl, priorityPrefix));
      producers.push(waiting);
      const sent: [string, number | undefined][] = [
        ['p3', 3],
        ['none', undefined],
        ['p2a', 2],
        ['p0', 0],
        ['p1', 1],
        ['p2b', 2],
      ];
      const ids = new Map<string, string>();
      for (const [label, priority] of sent) {
        const response = await post(
          waiting.app.inject.bind(waiting.app),
          '/v2/models/iris/infer',
          irisBody(priority === undefined ? {} : { parameters: { priority } }),
          { prefer: 'respond-async' },
        );
        expect(response.statusCode).toBe(202);
        ids.set(response.json<{ job_id: string }>().job_id, label);
      }
      late.push(
        await startWorkerService(
          testConfig(redisUrl, priorityPrefix, { MODELS: 'iris', WORKER_CONCURRENCY: '1' }),
          silent,
        ),
      );
      await Promise.all([...ids.keys()].map((id) => waiting.client.job(id).result()));
      const order = (await completionOrder(priorityPrefix)).map((id) => ids.get(id));
      expect(order).toEqual(['none', 'p0', 'p1', 'p2a', 'p2b', 'p3']);
    }, 60_000);

    it.each([
      ['a negative value', -1],
      ['a fraction', 0.5],
      ['a value over the last level', 2_097_154],
    ])('refuses %s with ERR_VALIDATION naming parameters.priority', async (_, priority) => {
      const response = await infer(irisBody({ parameters: { priority } }));
      expect(response.statusCode).toBe(400);
      const body = response.json<ErrorBody>();
      expect(body.code).toBe('ERR_VALIDATION');
      expect(body.issues?.map((i) => i.path)).toContain('body.parameters.priority');
    });
  });

  describe('model configuration', () => {
    it.each(['/v2/models/iris/config', '/v2/models/iris/versions/1/config'])(
      'answers %s in Triton model config JSON',
      async (url) => {
        const response = await producer.app.inject({ method: 'GET', url });
        expect(response.statusCode).toBe(200);
        expect(response.json()).toEqual({
          name: 'iris',
          platform: 'onnxruntime_onnx',
          backend: 'onnxruntime',
          max_batch_size: 0,
          input: [{ name: 'features', data_type: 'TYPE_FP32', dims: [-1, 4] }],
          output: [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [-1, 3] }],
        });
      },
    );

    it.each([
      ['/v2/models/nope/config', 'ERR_MODEL_NOT_FOUND'],
      ['/v2/models/nope/stats', 'ERR_MODEL_NOT_FOUND'],
      ['/v2/models/iris/versions/9/config', 'ERR_MODEL_VERSION_NOT_FOUND'],
      ['/v2/models/iris/versions/9/stats', 'ERR_MODEL_VERSION_NOT_FOUND'],
    ])('answers %s with 404 %s', async (url, code) => {
      const response = await producer.app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.json<ErrorBody>()).toMatchObject({ code, statusCode: 404 });
    });
  });

  describe('statistics', () => {
    interface Stats {
      model_stats: {
        name: string;
        version: string;
        last_inference: number;
        inference_count: number;
        execution_count: number;
        inference_stats: Record<string, { count: number; ns: number }>;
      }[];
    }
    const stats = async (app: TestProducer['app'], url: string) => {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(200);
      return response.json<Stats>();
    };

    it('counts successful requests, their time and queue and compute time', async () => {
      const before = (await stats(producer.app, '/v2/models/iris/stats')).model_stats[0]!;
      const started = Date.now();
      for (let i = 0; i < 3; i++) expect((await infer(irisBody())).statusCode).toBe(200);
      const after = (await stats(producer.app, '/v2/models/iris/versions/1/stats')).model_stats;
      expect(after).toHaveLength(1);
      const [entry] = after;
      expect(entry).toMatchObject({ name: 'iris', version: '1' });
      expect(entry!.inference_count - before.inference_count).toBe(3);
      expect(entry!.execution_count - before.execution_count).toBe(3);
      expect(entry!.last_inference).toBeGreaterThanOrEqual(started);
      const { success, fail, queue, compute_infer, compute_input, cache_hit } =
        entry!.inference_stats;
      expect(success!.count - before.inference_stats.success!.count).toBe(3);
      expect(success!.ns).toBeGreaterThan(before.inference_stats.success!.ns);
      expect(queue!.count).toBe(success!.count);
      expect(compute_infer!.count).toBe(success!.count);
      expect(success!.ns).toBeGreaterThanOrEqual(compute_infer!.ns);
      expect(fail).toEqual(before.inference_stats.fail);
      expect(compute_input).toEqual({ count: 0, ns: 0 });
      expect(cache_hit).toEqual({ count: 0, ns: 0 });
    });

    it('counts a request whose job timed out as a failure of its version', async () => {
      const before = (await stats(stuck.app, '/v2/models/iris/stats')).model_stats[0]!;
      const response = await post(
        stuck.app.inject.bind(stuck.app),
        '/v2/models/iris/infer',
        irisBody({ parameters: { timeout: 100_000 } }),
      );
      expect(response.statusCode).toBe(504);
      const [entry] = (await stats(stuck.app, '/v2/models/iris/stats')).model_stats;
      expect(entry!.inference_stats.fail!.count - before.inference_stats.fail!.count).toBe(1);
      expect(entry!.inference_stats.fail!.ns).toBeGreaterThan(before.inference_stats.fail!.ns);
      expect(entry!.inference_count).toBe(0);
      expect(entry!.last_inference).toBe(0);
    });
  });

  describe('compressed bodies', () => {
    const expectIris = (response: Awaited<ReturnType<typeof infer>>, rows = ROWS) => {
      expect(response.statusCode).toBe(200);
      const { outputs } = response.json<InferResponse>();
      const expected = irisReference(rows).flat();
      outputs[0]!.data.forEach((p, i) =>
        expect(Math.abs((p as number) - expected[i]!)).toBeLessThan(1e-5),
      );
    };

    it.each([
      ['gzip', gzipSync],
      ['deflate', deflateSync],
    ])('reads a %s JSON body', async (encoding, compress) => {
      const response = await infer(compress(JSON.stringify(irisBody())), {
        'content-type': 'application/json',
        'content-encoding': encoding,
      });
      expectIris(response);
    });

    it('reads a gzip body of the binary extension, its header length uncompressed', async () => {
      const header = Buffer.from(
        JSON.stringify({
          id: 'zipped',
          inputs: [
            {
              name: 'features',
              shape: [2, 4],
              datatype: 'FP32',
              parameters: { binary_data_size: 32 },
            },
          ],
        }),
      );
      const tensor = Buffer.from(new Float32Array(ROWS.flat()).buffer);
      const response = await infer(gzipSync(Buffer.concat([header, tensor])), {
        'inference-header-content-length': String(header.length),
        'content-encoding': 'gzip',
      });
      expectIris(response);
      expect(response.json<InferResponse>().id).toBe('zipped');
    });

    it('compresses a response when Accept-Encoding allows gzip', async () => {
      const rows = Array.from({ length: 64 }, (_, i) => [4 + (i % 4), 3, 1 + (i % 5), 0.2]);
      const response = await infer(irisBody({}, rows), { 'accept-encoding': 'gzip' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-encoding']).toBe('gzip');
      const body = JSON.parse(gunzipSync(response.rawPayload).toString('utf8')) as InferResponse;
      const expected = irisReference(rows).flat();
      body.outputs[0]!.data.forEach((p, i) =>
        expect(Math.abs((p as number) - expected[i]!)).toBeLessThan(1e-5),
      );
    });

    it('answers 415 to an encoding it does not read', async () => {
      const response = await infer(gzipSync(JSON.stringify(irisBody())), {
        'content-type': 'application/json',
        'content-encoding': 'br',
      });
      expect(response.statusCode).toBe(415);
      expect(response.json<ErrorBody>().code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers 400 to a body that does not inflate', async () => {
      const response = await infer(Buffer.from('not gzip at all'), {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      });
      expect(response.statusCode).toBe(400);
      expect(response.json<ErrorBody>().code).toBe('ERR_VALIDATION');
    });

    it('answers 413 to a zip bomb: MAX_BODY_BYTES bounds the inflated size', async () => {
      const small = await startProducer(testConfig(redisUrl, prefix, { MAX_BODY_BYTES: '65536' }));
      producers.push(small);
      // 16 MiB of spaces inside a JSON body gzip to about 16 KiB, well under the limit.
      const bomb = gzipSync(
        Buffer.concat([Buffer.from('{"inputs":'), Buffer.alloc(16 * 1024 * 1024, 0x20)]),
      );
      expect(bomb.length).toBeLessThan(65_536);
      const response = await post(small.app.inject.bind(small.app), '/v2/models/iris/infer', bomb, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      });
      expect(response.statusCode).toBe(413);
      expect(response.json<ErrorBody>().code).toBe('ERR_PAYLOAD_TOO_LARGE');
    });
  });
});
