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
        API_KEYS: `ci:infer:${INFER},ops:admin:${ADMIN}`,
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
    const ids: string[] = [];
    for (const row of rows)
      ids.push((await producer.client.predict('iris', { features: [row] })).jobId);
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
});
