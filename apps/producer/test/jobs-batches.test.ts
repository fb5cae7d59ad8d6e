import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type { BatchResultLine, BatchStatus } from '../src/jobs/batches-schemas.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { irisInputs, modelQueue, ndjson, startJobsProducer } from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
  [4.9, 3.0, 1.4, 0.2],
  [6.3, 3.3, 6.0, 2.5],
];

interface Created {
  batch_id: string;
  model: string;
  count: number;
  job_ids: string[];
  status_url: string;
  results_url: string;
}

/** Checks each completed line against the reference for the row at its index. */
function expectIrisResults(lines: BatchResultLine[], rows: number[][]) {
  for (const line of lines) {
    expect(line.status).toBe('completed');
    const expected = irisReference([rows[line.index]!]).flat();
    expect(line.outputs![0]!.shape).toEqual([1, 3]);
    line.outputs![0]!.data.forEach((p, i) =>
      expect(Math.abs((p as number) - expected[i]!)).toBeLessThan(1e-5),
    );
  }
}

describe('batches (/v1/models/{name}/jobs:batch) with a real worker', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let base: string;
  let iris: Queue;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix, { BATCH_MAX_ITEMS: '6' });
    worker = await startWorkerService(config, silent);
    producer = await startJobsProducer(config);
    await producer.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(producer.app.server.address() as AddressInfo).port}`;
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

  const jsonBatch = (body: unknown, model = 'iris') =>
    producer.app.inject({
      method: 'POST',
      url: `/v1/models/${model}/jobs:batch`,
      payload: body as Record<string, unknown>,
    });
  const ndjsonBatch = (text: string, query = '') =>
    producer.app.inject({
      method: 'POST',
      url: `/v1/models/iris/jobs:batch${query}`,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: text,
    });
  const items = (rows: number[][]) => rows.map((row) => ({ inputs: irisInputs([row]) }));

  it('enqueues a JSON batch and streams its results in input order', async () => {
    const response = await jsonBatch({ items: items(ROWS) });
    expect(response.statusCode).toBe(202);
    const created = response.json<Created>();
    expect(created).toMatchObject({ model: 'iris', count: 5 });
    expect(created.batch_id).toMatch(/^b-/);
    expect(created.job_ids).toHaveLength(5);
    expect(response.headers.location).toBe(created.status_url);

    const results = await producer.app.inject({ method: 'GET', url: created.results_url });
    expect(results.statusCode).toBe(200);
    expect(results.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = ndjson<BatchResultLine>(results.body);
    expect(lines.map((l) => l.index)).toEqual([0, 1, 2, 3, 4]);
    expect(lines.map((l) => l.job_id)).toEqual(created.job_ids);
    expectIrisResults(lines, ROWS);

    const status = await producer.app.inject({ method: 'GET', url: created.status_url });
    expect(status.json<BatchStatus>()).toMatchObject({
      batch_id: created.batch_id,
      total: 5,
      finished: true,
      counts: { completed: 5, waiting: 0, failed: 0 },
    });
  });

  it('reads an NDJSON upload line by line, skipping blank lines, with parameters in the query', async () => {
    await iris.pause();
    const text = `${items(ROWS.slice(0, 3))
      .map((item) => JSON.stringify(item))
      .join('\n\n')}\n`;
    const response = await ndjsonBatch(text, '?priority=3');
    expect(response.statusCode).toBe(202);
    const created = response.json<Created>();
    expect(created.count).toBe(3);
    const job = await iris.getJob(created.job_ids[0]!);
    expect(job?.opts.priority).toBe(3);
    const status = await producer.app.inject({ method: 'GET', url: created.status_url });
    expect(status.json<BatchStatus>()).toMatchObject({
      total: 3,
      finished: false,
      counts: { prioritized: 3 },
    });
    await iris.resume();
    const results = await producer.app.inject({ method: 'GET', url: created.results_url });
    expectIrisResults(ndjson<BatchResultLine>(results.body), ROWS);
  });

  it('streams results in completion order when asked, as each job ends', async () => {
    // Item 1 is a job that has already ended (same idempotency key); items 0 and 2 wait.
    const done = await producer.app.inject({
      method: 'POST',
      url: '/v1/models/iris/jobs',
      headers: { 'idempotency-key': 'batch-done-1' },
      payload: { inputs: irisInputs([ROWS[1]!]) },
    });
    expect(
      (await producer.app.inject({ method: 'GET', url: `${done.headers.location}/result?wait=20` }))
        .statusCode,
    ).toBe(200);
    await iris.pause();
    const [item0, item1, item2] = items(ROWS.slice(0, 3));
    const created = (
      await jsonBatch({ items: [item0, { ...item1, idempotency_key: 'batch-done-1' }, item2] })
    ).json<Created>();
    expect(created.job_ids[1]).toBe(done.json<{ job_id: string }>().job_id);

    const response = await fetch(`${base}${created.results_url}?order=completion`);
    expect(response.status).toBe(200);
    // The head came before the waiting jobs could end: every job is watched by now.
    await iris.resume();
    const lines = ndjson<BatchResultLine>(await response.text());
    expect(lines[0]!.index).toBe(1);
    expect(
      lines
        .slice(1)
        .map((l) => l.index)
        .sort(),
    ).toEqual([0, 2]);
    expectIrisResults(lines, ROWS);

    const inOrder = await producer.app.inject({ method: 'GET', url: created.results_url });
    expect(ndjson<BatchResultLine>(inOrder.body).map((l) => l.index)).toEqual([0, 1, 2]);
  });

  it('writes the state of jobs that did not end within ?wait', async () => {
    await iris.pause();
    const created = (await jsonBatch({ items: items(ROWS.slice(0, 2)) })).json<Created>();
    for (const order of ['input', 'completion']) {
      const results = await producer.app.inject({
        method: 'GET',
        url: `${created.results_url}?order=${order}&wait=0.2`,
      });
      expect(ndjson<BatchResultLine>(results.body)).toEqual([
        { job_id: created.job_ids[0], index: 0, status: 'waiting' },
        { job_id: created.job_ids[1], index: 1, status: 'waiting' },
      ]);
    }
  });

  it('refuses an NDJSON upload with 400 naming the bad line, and enqueues nothing', async () => {
    // Jobs move between states meanwhile; the number of jobs the queue knows must not change.
    const total = async () => Object.values(await iris.getJobCounts()).reduce((a, b) => a + b, 0);
    const before = await total();
    const good = JSON.stringify(items([ROWS[0]!])[0]);
    const notJson = await ndjsonBatch(`${good}\n${good}\n{"inputs": oops}\n${good}\n`);
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json<ErrorBody>()).toMatchObject({
      code: 'ERR_VALIDATION',
      issues: [{ path: 'line 3' }],
    });
    expect(notJson.json<ErrorBody>().message).toMatch(/^line 3 /);

    const badTensor = await ndjsonBatch(
      `${good}\n${JSON.stringify({ inputs: { features: { shape: [1, 4], datatype: 'FP32', data: [1] } } })}\n`,
    );
    expect(badTensor.statusCode).toBe(400);
    expect(badTensor.json<ErrorBody>()).toMatchObject({ code: 'ERR_TENSOR_INVALID' });
    expect(badTensor.json<ErrorBody>().message).toMatch(/^line 2: /);

    const badShape = await jsonBatch({
      items: [
        ...items([ROWS[0]!]),
        { inputs: { features: { shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] } } },
      ],
    });
    expect(badShape.statusCode).toBe(400);
    expect(badShape.json<ErrorBody>()).toMatchObject({ code: 'ERR_INPUT_SHAPE' });
    expect(badShape.json<ErrorBody>().message).toMatch(/^items\.1: /);
    expect(await total()).toBe(before);
  });

  it('refuses more items than BATCH_MAX_ITEMS, an empty batch, and an unknown model', async () => {
    const tooMany = await jsonBatch({ items: items([...ROWS, ...ROWS]) });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json<ErrorBody>()).toMatchObject({ code: 'ERR_VALIDATION' });
    expect((await jsonBatch({ items: [] })).json<ErrorBody>().code).toBe('ERR_VALIDATION');
    expect((await ndjsonBatch('\n\n')).json<ErrorBody>().code).toBe('ERR_VALIDATION');
    const unknown = await jsonBatch({ items: items([ROWS[0]!]) }, 'no-such-model');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<ErrorBody>().code).toBe('ERR_MODEL_NOT_FOUND');
  });

  it('answers 404 ERR_BATCH_NOT_FOUND for an unknown batch and 400 for a malformed id', async () => {
    const unknown = '/v1/batches/b-00000000-0000-0000-0000-000000000000';
    for (const url of [unknown, `${unknown}/results`]) {
      const response = await producer.app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(404);
      expect(response.json<ErrorBody>().code).toBe('ERR_BATCH_NOT_FOUND');
    }
    const malformed = await producer.app.inject({ method: 'GET', url: '/v1/batches/nope' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json<ErrorBody>().code).toBe('ERR_VALIDATION');
  });
});
