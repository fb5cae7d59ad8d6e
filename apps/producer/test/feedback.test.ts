import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FeedbackReceiptSchema, ModelAccuracySchema } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { feedbackRepository } from '../../../test/support/feedback-repository.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startInProcessWorker } from '../../../test/support/workers.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const INFER = 'infer-secret-0123456789abcdef';
const OTHER = 'other-secret-0123456789abcdef';
const ADMIN = 'admin-secret-0123456789abcdef';

describe('POST /v1/predictions/{id}/feedback and GET /v1/models/{name}/accuracy', () => {
  const prefix = uniquePrefix();
  let repository: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let producer: TestProducer;
  const auth = { authorization: `Bearer ${INFER}` };

  beforeAll(async () => {
    repository = await feedbackRepository();
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository });
    producer = await startProducer(
      testConfig(redisUrl, prefix, {
        API_KEYS: `ci:infer:${INFER},other:infer:${OTHER},ops:admin:${ADMIN}`,
        MODELS: 'iris',
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await rm(repository, { recursive: true, force: true });
  });

  it('takes a label for a prediction and reports accuracy over HTTP and in /metrics', async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.3, 3.3, 6.0, 2.5],
    ];
    const expected = irisReference(rows).map((r) => r.indexOf(Math.max(...r)));
    // Made as the key `ci` (what its HTTP requests are): feedback belongs to the predictions' owner.
    const ids: string[] = [];
    for (const row of rows)
      ids.push((await producer.client.predict('iris', { features: [row] }, { owner: 'ci' })).jobId);
    // Right for the first flower, wrong for the second.
    const labels = [expected[0] as number, ((expected[1] as number) + 1) % 3];
    for (const [i, id] of ids.entries()) {
      const response = await producer.app.inject({
        method: 'POST',
        url: `/v1/predictions/${id}/feedback`,
        headers: auth,
        payload: { label: labels[i] },
      });
      expect(response.statusCode).toBe(200);
      expect(FeedbackReceiptSchema.parse(response.json())).toMatchObject({
        id,
        version: '1',
        correct: i === 0 ? 1 : 0,
      });
    }
    const response = await producer.app.inject({
      method: 'GET',
      url: '/v1/models/iris/accuracy',
      headers: auth,
    });
    expect(response.statusCode).toBe(200);
    const body = ModelAccuracySchema.parse(response.json());
    expect(body.versions[0]?.windows['1h']).toMatchObject({
      labelled: 2,
      correct: 1,
      accuracy: 0.5,
    });
    const metrics = await producer.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(metrics.body).toContain(
      'conveyor_model_accuracy{model="iris",version="1",window="5m"} 0.5',
    );
    expect(metrics.body).toContain(
      'conveyor_model_feedback_rows{model="iris",version="1",window="24h",kind="label"} 2',
    );
  });

  it('answers 404 ERR_PREDICTION_NOT_FOUND, 400 ERR_VALIDATION and 401 without a key', async () => {
    const post = (id: string, payload: object, headers: Record<string, string> = auth) =>
      producer.app.inject({
        method: 'POST',
        url: `/v1/predictions/${id}/feedback`,
        headers,
        payload,
      });
    const unknown = await post('iris.1.00000000-0000-4000-8000-000000000000', { label: 1 });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'ERR_PREDICTION_NOT_FOUND', statusCode: 404 });
    const both = await post('iris.1.00000000-0000-4000-8000-000000000000', { label: 1, value: 2 });
    expect(both.statusCode).toBe(400);
    expect(both.json()).toMatchObject({ code: 'ERR_VALIDATION' });
    const anonymous = await post('iris.1.x', { label: 1 }, {});
    expect(anonymous.statusCode).toBe(401);
  });

  it('takes one feedback per prediction: the same truth answers the first receipt, another is 409', async () => {
    const { jobId } = await producer.client.predict(
      'iris',
      { features: [[5.9, 3.0, 5.1, 1.8]] },
      { owner: 'ci' },
    );
    const post = (payload: object) =>
      producer.app.inject({
        method: 'POST',
        url: `/v1/predictions/${jobId}/feedback`,
        headers: auth,
        payload,
      });
    const labelled = async () => {
      const response = await producer.app.inject({
        method: 'GET',
        url: '/v1/models/iris/accuracy',
        headers: auth,
      });
      return ModelAccuracySchema.parse(response.json()).versions[0]?.windows['24h'].labelled ?? 0;
    };
    const before = await labelled();
    const first = await post({ label: 2 });
    expect(first.statusCode).toBe(200);
    const again = await post({ label: [2] });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    const other = await post({ label: 0 });
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({
      code: 'ERR_FEEDBACK_EXISTS',
      statusCode: 409,
      details: { id: jobId, entryId: FeedbackReceiptSchema.parse(first.json()).entryId },
    });
    expect(await labelled()).toBe(before + 1);
  });
});

describe('feedback belongs to the API key that made the prediction, over real HTTP', () => {
  const prefix = uniquePrefix();
  let repository: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let producer: TestProducer;
  let base: string;
  const bearer = (secret: string) => ({
    authorization: `Bearer ${secret}`,
    'content-type': 'application/json',
  });

  beforeAll(async () => {
    repository = await feedbackRepository();
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository });
    producer = await startProducer(
      testConfig(redisUrl, prefix, {
        API_KEYS: `ci:infer:${INFER},other:infer:${OTHER},ops:admin:${ADMIN}`,
        MODELS: 'iris,reg',
      }),
    );
    base = await producer.app.listen({ host: '127.0.0.1', port: 0 });
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await rm(repository, { recursive: true, force: true });
  });

  /** Infers through the producer with a key and returns the job id it answered with. */
  const infer = async (model: string, secret: string, input: object): Promise<string> => {
    const response = await fetch(`${base}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: bearer(secret),
      body: JSON.stringify({ inputs: [input] }),
    });
    expect(response.status).toBe(200);
    return response.headers.get('conveyor-job-id') ?? '';
  };
  const feedback = (id: string, secret: string, body: object) =>
    fetch(`${base}/v1/predictions/${id}/feedback`, {
      method: 'POST',
      headers: bearer(secret),
      body: JSON.stringify(body),
    });
  const codeOf = async (response: Response) =>
    [response.status, ((await response.json()) as { code?: string }).code] as const;

  it("refuses another infer key's prediction as not found, logged or only kept", async () => {
    const iris = await infer('iris', INFER, {
      name: 'features',
      shape: [1, 4],
      datatype: 'FP32',
      data: [5.1, 3.5, 1.4, 0.2],
    });
    // reg logs nothing: its feedback reads the kept job, and the job's owner.
    const reg = await infer('reg', INFER, {
      name: 'x',
      shape: [1, 1],
      datatype: 'FP32',
      data: [2],
    });
    for (const [id, body] of [
      [iris, { label: 0 }],
      [reg, { value: 2 }],
    ] as const) {
      expect(await codeOf(await feedback(id, OTHER, body))).toEqual([
        404,
        'ERR_PREDICTION_NOT_FOUND',
      ]);
      const own = await feedback(id, INFER, body);
      expect(own.status).toBe(200);
      expect(((await own.json()) as { id: string }).id).toBe(id);
    }
  });

  it('lets an admin key send feedback for any prediction, and no infer key for an unowned one', async () => {
    // Through the SDK directly: the job names no owner.
    const { jobId } = await producer.client.predict('iris', { features: [[6.3, 3.3, 6.0, 2.5]] });
    expect(await codeOf(await feedback(jobId, INFER, { label: 2 }))).toEqual([
      404,
      'ERR_PREDICTION_NOT_FOUND',
    ]);
    const iris = await infer('iris', OTHER, {
      name: 'features',
      shape: [1, 4],
      datatype: 'FP32',
      data: [7.0, 3.2, 4.7, 1.4],
    });
    for (const id of [jobId, iris]) {
      const response = await feedback(id, ADMIN, { label: 1 });
      expect(response.status).toBe(200);
    }
  });
});
