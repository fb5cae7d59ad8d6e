import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  JOB_PAYLOAD_VERSION,
  createLogger,
  encodeTensor,
  newJobId,
  toTensor,
} from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type {
  JobPendingSchema,
  JobResultBodySchema,
  JobStatusSchema,
  SubmitJobResponseSchema,
} from '../src/jobs/jobs-schemas.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { IRIS_ROWS, irisInputs, modelQueue, startJobsProducer } from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';
import type { z } from 'zod';

type Submitted = z.infer<typeof SubmitJobResponseSchema>;
type Status = z.infer<typeof JobStatusSchema>;
type Result = z.infer<typeof JobResultBodySchema>;
type Pending = z.infer<typeof JobPendingSchema>;

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

describe('the asynchronous job API (/v1) with a real worker', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let iris: Queue;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix);
    worker = await startWorkerService(config, silent);
    producer = await startJobsProducer(config);
    iris = modelQueue(redisUrl, prefix, 'iris');
  }, 60_000);

  afterEach(async () => {
    await iris.resume();
  });

  afterAll(async () => {
    await iris?.close();
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  const submit = (body: unknown, headers: Record<string, string> = {}, model = 'iris') =>
    producer.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/jobs`,
      payload: body as Record<string, unknown>,
      headers,
    });
  const get = (url: string) => producer.app.inject({ method: 'GET', url });

  it('accepts a job with 202, its id, its URLs and a Location header, then gives its result', async () => {
    const response = await submit({ inputs: irisInputs() });
    expect(response.statusCode).toBe(202);
    const body = response.json<Submitted>();
    expect(body.job_id).toMatch(/^iris\./);
    expect(body).toMatchObject({
      model: 'iris',
      status_url: `/v1/jobs/${body.job_id}`,
      result_url: `/v1/jobs/${body.job_id}/result`,
      events_url: `/v1/jobs/${body.job_id}/events`,
    });
    expect(response.headers.location).toBe(body.status_url);

    const result = await get(`${body.result_url}?wait=20`);
    expect(result.statusCode).toBe(200);
    const outputs = result.json<Result>();
    expect(outputs).toMatchObject({ job_id: body.job_id, model_name: 'iris', model_version: '1' });
    expect(outputs.outputs[0]).toMatchObject({ name: 'probabilities', shape: [3, 3] });
    const expected = irisReference(IRIS_ROWS).flat();
    outputs.outputs[0]!.data.forEach((p, i) =>
      expect(Math.abs((p as number) - expected[i]!)).toBeLessThan(1e-5),
    );

    const status = await get(body.status_url);
    expect(status.statusCode).toBe(200);
    const state = status.json<Status>();
    expect(state).toMatchObject({
      job_id: body.job_id,
      model: 'iris',
      state: 'completed',
      attempts_made: 1,
      model_version: '1',
    });
    expect(Date.parse(state.queued_at)).not.toBeNaN();
    expect(Date.parse(state.finished_at!)).toBeGreaterThanOrEqual(Date.parse(state.started_at!));
    // Timings fit inside the job's own timestamps: queued from enqueue to start, then inference.
    const lifetime = Date.parse(state.finished_at!) - Date.parse(state.queued_at);
    expect(state.inference_ms).toBeGreaterThan(0);
    expect(state.queued_ms).toBeLessThanOrEqual(lifetime);
    expect(state.queued_ms! + state.inference_ms!).toBeLessThanOrEqual(lifetime + 1);
  });

  it('accepts nested arrays as FP32 inputs', async () => {
    const response = await submit({ inputs: { features: IRIS_ROWS } });
    expect(response.statusCode).toBe(202);
    const result = await get(`/v1/jobs/${response.json<Submitted>().job_id}/result?wait=20`);
    expect(result.json<Result>().outputs[0]!.shape).toEqual([3, 3]);
  });

  it('answers 202 with Retry-After while the job waits, and long-polls until it ends', async () => {
    await iris.pause();
    const { job_id } = (await submit({ inputs: irisInputs() })).json<Submitted>();
    const pending = await get(`/v1/jobs/${job_id}/result`);
    expect(pending.statusCode).toBe(202);
    expect(pending.headers['retry-after']).toBe('1');
    expect(pending.json<Pending>()).toEqual({ job_id, state: 'waiting' });
    expect((await get(`/v1/jobs/${job_id}/result?wait=0.2`)).statusCode).toBe(202);
    expect((await get(`/v1/jobs/${job_id}`)).json<Status>()).toMatchObject({
      state: 'waiting',
      progress: 0,
      attempts_made: 0,
    });

    const polled = get(`/v1/jobs/${job_id}/result?wait=30`);
    await iris.resume();
    const result = await polled;
    expect(result.statusCode).toBe(200);
    expect(result.json<Result>().job_id).toBe(job_id);
  });

  it('passes priority and deadline through to the queued job', async () => {
    await iris.pause();
    const deadline = new Date(Date.now() + 3_600_000).toISOString();
    const { job_id } = (
      await submit({ inputs: irisInputs(), parameters: { priority: 5, deadline } })
    ).json<Submitted>();
    const job = await iris.getJob(job_id);
    expect(job?.opts.priority).toBe(5);
    expect((job?.data as { deadline: number }).deadline).toBe(Date.parse(deadline));
    expect((await get(`/v1/jobs/${job_id}`)).json<Status>().state).toBe('prioritized');
  });

  it("takes BullMQ's lowest priority and refuses one past it", async () => {
    await iris.pause();
    const lowest = (
      await submit({ inputs: irisInputs(), parameters: { priority: 2 ** 21 - 1 } })
    ).json<Submitted>();
    expect((await iris.getJob(lowest.job_id))?.opts.priority).toBe(2 ** 21 - 1);
    const past = await submit({ inputs: irisInputs(), parameters: { priority: 2 ** 21 } });
    expect(past.statusCode).toBe(400);
    expect(past.json<ErrorBody>().code).toBe('ERR_VALIDATION');
  });

  it('answers a failed job with the status and code of its error', async () => {
    const past = Date.now() - 60_000;
    const { job_id } = (
      await submit({ inputs: irisInputs(), parameters: { deadline: past } })
    ).json<Submitted>();
    const result = await get(`/v1/jobs/${job_id}/result?wait=20`);
    expect({ status: result.statusCode, body: result.json<ErrorBody>() }).toMatchObject({
      status: 504,
      body: { code: 'ERR_DEADLINE_EXCEEDED', job_id },
    });
    const status = (await get(`/v1/jobs/${job_id}`)).json<Status>();
    expect(status).toMatchObject({ state: 'failed', error: { code: 'ERR_DEADLINE_EXCEEDED' } });
  });

  it('answers 400 ERR_INPUT_SHAPE for a job the worker refused for its shape', async () => {
    // The API checks shapes before enqueueing, so this job is put on the queue by hand.
    const id = newJobId('iris', '1');
    const payload = {
      v: JOB_PAYLOAD_VERSION,
      model: 'iris',
      inputs: { features: encodeTensor(toTensor('features', { data: [1, 2, 3], shape: [1, 3] })) },
    };
    await iris.add('predict', payload, { jobId: id });
    const result = await get(`/v1/jobs/${id}/result?wait=20`);
    expect(result.statusCode).toBe(400);
    expect(result.json<ErrorBody>()).toMatchObject({ code: 'ERR_INPUT_SHAPE', job_id: id });
  });

  it('gives the same job for the same Idempotency-Key and another for another key', async () => {
    await iris.pause();
    const first = await submit({ inputs: irisInputs() }, { 'idempotency-key': 'order-42' });
    const again = await submit({ inputs: irisInputs() }, { 'idempotency-key': 'order-42' });
    const other = await submit({ inputs: irisInputs() }, { 'idempotency-key': 'order-43' });
    expect(first.statusCode).toBe(202);
    expect(again.json<Submitted>().job_id).toBe(first.json<Submitted>().job_id);
    expect(other.json<Submitted>().job_id).not.toBe(first.json<Submitted>().job_id);
    expect(await iris.getWaitingCount()).toBe(2);
    await iris.drain();
  });

  it('cancels a waiting job with 204, after which it is unknown', async () => {
    await iris.pause();
    const { job_id } = (await submit({ inputs: irisInputs() })).json<Submitted>();
    const cancelled = await producer.app.inject({ method: 'DELETE', url: `/v1/jobs/${job_id}` });
    expect(cancelled.statusCode).toBe(204);
    expect((await get(`/v1/jobs/${job_id}`)).json<ErrorBody>()).toMatchObject({
      code: 'ERR_JOB_NOT_FOUND',
      statusCode: 404,
    });
    const twice = await producer.app.inject({ method: 'DELETE', url: `/v1/jobs/${job_id}` });
    expect(twice.statusCode).toBe(404);
    expect(twice.json<ErrorBody>().code).toBe('ERR_JOB_NOT_FOUND');
  });

  it('refuses to cancel a finished job with 409 ERR_JOB_NOT_CANCELLABLE', async () => {
    const { job_id } = (await submit({ inputs: irisInputs() })).json<Submitted>();
    expect((await get(`/v1/jobs/${job_id}/result?wait=20`)).statusCode).toBe(200);
    const response = await producer.app.inject({ method: 'DELETE', url: `/v1/jobs/${job_id}` });
    expect(response.statusCode).toBe(409);
    expect(response.json<ErrorBody>().code).toBe('ERR_JOB_NOT_CANCELLABLE');
  });

  describe('refuses bad requests with the code and status of the catalogue', () => {
    const cases: [string, () => ReturnType<typeof get>, number, string][] = [
      ['a malformed job id', () => get('/v1/jobs/not-a-job-id'), 400, 'ERR_VALIDATION'],
      ['a malformed id on /result', () => get('/v1/jobs/iris/result'), 400, 'ERR_VALIDATION'],
      [
        'an unknown job',
        () => get('/v1/jobs/iris.1.00000000-0000-0000-0000-000000000000'),
        404,
        'ERR_JOB_NOT_FOUND',
      ],
      [
        'an unknown job on /result',
        () => get('/v1/jobs/iris.1.00000000-0000-0000-0000-000000000000/result'),
        404,
        'ERR_JOB_NOT_FOUND',
      ],
      [
        'a ?wait over the limit',
        () => get('/v1/jobs/iris.x/result?wait=301'),
        400,
        'ERR_VALIDATION',
      ],
      [
        'an unknown model',
        () => submit({ inputs: irisInputs() }, {}, 'no-such-model'),
        404,
        'ERR_MODEL_NOT_FOUND',
      ],
      [
        'inputs of the wrong shape',
        () =>
          submit({ inputs: { features: { shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] } } }),
        400,
        'ERR_INPUT_SHAPE',
      ],
      [
        'data that does not fill the shape',
        () => submit({ inputs: { features: { shape: [2, 4], datatype: 'FP32', data: [1, 2] } } }),
        400,
        'ERR_TENSOR_INVALID',
      ],
      [
        'an unknown parameter',
        () => submit({ inputs: irisInputs(), parameters: { colour: 'red' } }),
        400,
        'ERR_VALIDATION',
      ],
      [
        'a callback URL that is not http(s)',
        () =>
          submit({ inputs: irisInputs(), parameters: { callback_url: 'ftp://example.test/x' } }),
        400,
        'ERR_VALIDATION',
      ],
      [
        'a callback URL while webhooks are off',
        () =>
          submit({ inputs: irisInputs(), parameters: { callback_url: 'http://127.0.0.1:9/x' } }),
        400,
        'ERR_CALLBACK_NOT_ALLOWED',
      ],
      [
        'a bad Idempotency-Key',
        () => submit({ inputs: irisInputs() }, { 'idempotency-key': 'a b' }),
        400,
        'ERR_VALIDATION',
      ],
    ];
    it.each(cases)('%s', async (_name, call, status, code) => {
      const response = await call();
      expect(response.statusCode).toBe(status);
      expect(response.json<ErrorBody>()).toMatchObject({ code, statusCode: status });
    });
  });
});
