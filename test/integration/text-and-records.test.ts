import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import {
  createLogger,
  loadConfig,
  toRows,
  type ConveyorError,
  type ErrorBody,
} from '@conveyor/shared';
import { startProducer, testConfig, type TestProducer } from '../../apps/producer/test/support.js';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';
import { sentimentConfig } from '../../scripts/lib/sentiment-model.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { MODELS } from '../support/workers.js';

/**
 * The text and record steps end to end: the generated sentiment model as shipped and with
 * chunking, and iris behind a record step, through a worker and the queue and embedded; a bad
 * record's field-level details through the queue client and HTTP too.
 */
const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
let repository: string;
let worker: WorkerService;

const FIELDS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const IRIS_RECORD = {
  name: 'iris-record',
  preprocess: {
    flower: {
      kind: 'record',
      fields: FIELDS.map((name) => ({ name, type: 'number', min: 0, max: 30 })),
    },
  },
  postprocess: {
    species: { kind: 'argmax', labels: ['setosa', 'versicolor', 'virginica'] },
  },
};

const CORPUS = {
  ...sentimentConfig,
  name: 'sentiment-corpus',
  preprocess: {
    text: {
      kind: 'text',
      maxLength: 64,
      maxChars: 5000,
      chunk: { size: 64, overlap: 8, aggregate: 'mean' },
    },
  },
};

async function addVersion(name: string, from: string, config: object, files: string[]) {
  const dir = join(repository, name, '1');
  await mkdir(dir, { recursive: true });
  for (const file of files) await copyFile(join(MODELS, from, '1', file), join(dir, file));
  await writeFile(join(dir, 'model.json'), JSON.stringify(config));
}

beforeAll(async () => {
  repository = await mkdtemp(join(tmpdir(), 'conveyor-text-records-'));
  const text = ['model.onnx', 'tokenizer.json'];
  await addVersion('sentiment', 'sentiment', sentimentConfig, text);
  await addVersion('sentiment-corpus', 'sentiment', CORPUS, text);
  await addVersion('iris-record', 'iris', IRIS_RECORD, ['model.onnx']);
  worker = await startWorkerService(
    loadConfig({
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      MODEL_REPOSITORY: repository,
      LOG_LEVEL: 'silent',
    }),
    createLogger({ level: 'silent', component: 'worker' }),
  );
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await dropPrefix(redisUrl, prefix);
  await rm(repository, { recursive: true, force: true });
});

// 80 tokens of which 20 negative, then 160 of which 80 positive.
const LONG = 'bad the the the '.repeat(20) + 'good good the the '.repeat(40);

describe.each([
  ['queue', () => createClient({ redisUrl, prefix })],
  ['embedded', () => createEmbeddedClient({ repository })],
] as const)('text and records through the %s client', (_kind, open) => {
  let client: ConveyorClient;
  beforeAll(async () => {
    client = await open();
  }, 60_000);
  afterAll(async () => {
    await client?.close();
  });

  it('classifies a positive and a negative sentence', async () => {
    const { outputs } = await client.predict('sentiment', {
      text: ['I love this movie', 'This movie was boring and bad'],
    });
    expect(outputs.label?.data).toEqual(['positive', 'negative']);
    // Softmax of the hand-worked logits [0, 4/6] and [1, 0].
    const p = 1 / (1 + Math.exp(-4 / 6));
    const q = 1 / (1 + Math.exp(-1));
    const probabilities = toRows(outputs.probabilities!);
    [
      [1 - p, p],
      [q, 1 - q],
    ].forEach((row, r) => row.forEach((v, c) => expect(probabilities[r]![c]).toBeCloseTo(v, 5)));
  });

  it('reads only the start of a long text when truncating, all of it when chunking', async () => {
    const short = await client.predict('sentiment', { text: [LONG] });
    expect(short.outputs.label?.data).toEqual(['negative']);
    const whole = await client.predict('sentiment-corpus', { text: [LONG, 'sad'] });
    expect(whole.outputs.label?.data).toEqual(['positive', 'negative']);
  });

  it('refuses a text over maxChars with ERR_TEXT_TOO_LONG', async () => {
    await expect(
      client.predict('sentiment-corpus', { text: ['good '.repeat(1001)] }),
    ).rejects.toMatchObject({ code: 'ERR_TEXT_TOO_LONG' });
  });

  it('classifies iris flowers given as records', async () => {
    const flowers = [
      { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 },
      { petal_width: 2.5, sepal_length: 6.3, sepal_width: 3.3, petal_length: 6.0 },
    ];
    const { outputs } = await client.predict('iris-record', {
      flower: flowers.map((flower) => JSON.stringify(flower)),
    });
    expect(outputs.species?.data).toEqual(['setosa', 'virginica']);
  });

  it('takes the records as plain objects too, sent as JSON text', async () => {
    const { outputs } = await client.predict('iris-record', {
      flower: [{ sepal_length: 5.9, sepal_width: 3.0, petal_length: 4.2, petal_width: 1.5 }],
    });
    expect(outputs.species?.data).toEqual(['versicolor']);
  });

  it('refuses a record with field-level errors, all of them together', async () => {
    const bad = { sepal_length: 51, sepal_width: '3.5', petal_length: 1.4, colour: 'red' };
    const error = (await client.predict('iris-record', { flower: [JSON.stringify(bad)] }).then(
      () => ({}),
      (e: unknown) => e,
    )) as { code?: string; message?: string };
    expect(error.code).toBe('ERR_RECORD_FIELD');
    // The message names each field; the details list them, through the queue too.
    expect(error.message).toContain(
      'flower[0].sepal_length 51, above the maximum 30 (range); ' +
        'flower[0].sepal_width not a number but a string (type); ' +
        'flower[0].petal_width is missing (missing); ' +
        'flower[0].colour is no field of the record (extra)',
    );
    expect(error).toMatchObject({
      details: {
        row: 0,
        field: 'sepal_length',
        reason: 'range',
        fields: [
          { row: 0, field: 'sepal_length', reason: 'range' },
          { row: 0, field: 'sepal_width', reason: 'type' },
          { row: 0, field: 'petal_width', reason: 'missing' },
          { row: 0, field: 'colour', reason: 'extra' },
        ],
      },
    });
  });
});

describe('field-level record errors reach every client', () => {
  // Row 0: petal_width missing, colour extra; row 1 fine; row 2: sepal_width a string.
  const BAD = [
    { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, colour: 'red' },
    { sepal_length: 5.9, sepal_width: 3.0, petal_length: 4.2, petal_width: 1.5 },
    { sepal_length: 6.3, sepal_width: '3.3', petal_length: 6.0, petal_width: 2.5 },
  ].map((record) => JSON.stringify(record));
  const FIELD_ERRORS = [
    { row: 0, field: 'petal_width', reason: 'missing' },
    { row: 0, field: 'colour', reason: 'extra' },
    { row: 2, field: 'sepal_width', reason: 'type' },
  ];
  let queue: ConveyorClient;
  let embedded: ConveyorClient;
  let producer: TestProducer;
  beforeAll(async () => {
    queue = await createClient({ redisUrl, prefix });
    embedded = await createEmbeddedClient({ repository });
    producer = await startProducer(testConfig(redisUrl, prefix, { MODEL_REPOSITORY: repository }));
  }, 60_000);
  afterAll(async () => {
    await producer?.close();
    await queue?.close();
    await embedded?.close();
  });

  const refusal = (client: ConveyorClient) =>
    client.predict('iris-record', { flower: BAD }).then(
      () => expect.fail('the bad records were accepted'),
      (e: unknown) => e as ConveyorError,
    );

  it('gives the queue client the details the embedded client gets', async () => {
    const [fromQueue, inProcess] = await Promise.all([refusal(queue), refusal(embedded)]);
    expect(inProcess.code).toBe('ERR_RECORD_FIELD');
    expect(inProcess.details.fields).toEqual(FIELD_ERRORS);
    expect(fromQueue.code).toBe('ERR_RECORD_FIELD');
    expect(fromQueue.message).toBe(inProcess.message);
    const { jobId, model, ...carried } = fromQueue.details;
    expect(jobId).toEqual(expect.any(String));
    expect(model).toBe('iris-record');
    expect(carried).toEqual(inProcess.details);
  });

  it('answers HTTP infer with the same details, and keeps them on the failed job', async () => {
    const inProcess = await refusal(embedded);
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v2/models/iris-record/infer',
      payload: { inputs: [{ name: 'flower', datatype: 'BYTES', shape: [3], data: BAD }] },
    });
    expect(response.statusCode).toBe(400);
    const body = response.json<ErrorBody>();
    expect(body).toMatchObject({ code: 'ERR_RECORD_FIELD', message: inProcess.message });
    expect(body.details).toEqual(inProcess.details);
    expect(body.job_id).toEqual(expect.any(String));

    const status = await producer.app.inject({ url: `/v1/jobs/${body.job_id}` });
    expect(status.json()).toMatchObject({
      state: 'failed',
      error: { code: 'ERR_RECORD_FIELD', details: { fields: FIELD_ERRORS } },
    });
    const result = await producer.app.inject({ url: `/v1/jobs/${body.job_id}/result` });
    expect(result.statusCode).toBe(400);
    expect(result.json<ErrorBody>().details).toEqual(inProcess.details);
  });
});
