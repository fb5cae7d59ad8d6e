import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { createLogger, loadConfig, toRows } from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';
import { sentimentConfig } from '../../scripts/lib/sentiment-model.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { MODELS } from '../support/workers.js';

/**
 * The text and record steps end to end: the generated sentiment model as shipped and with
 * chunking, and iris behind a record step, through a worker and the queue and embedded.
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
] as const)('text and records through the %s client', (kind, open) => {
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
    // Through the queue only the code and the message travel; the message names each field.
    expect(error.message).toContain(
      'flower[0].sepal_length 51, above the maximum 30 (range); ' +
        'flower[0].sepal_width not a number but a string (type); ' +
        'flower[0].petal_width is missing (missing); ' +
        'flower[0].colour is no field of the record (extra)',
    );
    if (kind === 'queue') return;
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
