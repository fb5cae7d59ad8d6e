import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, isConveyorError, type ConveyorClient } from '@conveyor/sdk';
import { createEmbeddedClient } from '@conveyor/sdk/embedded';
import { createLogger, loadConfig } from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';
import { jsonLines, runCli } from '../../apps/cli/test/support.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';

/**
 * String tensors (OIP `BYTES`) end to end: a categorical encoder, as sklearn-onnx writes them
 * (ai.onnx.ml LabelEncoder), takes colour names and gives a code and a canonical name; through the
 * queue (short strings inline, long ones stored beside the job) and embedded, batched or not.
 */
const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;
const utf8 = (text: string) => Buffer.from(text, 'utf8');

const KEYS = ['red', 'green', 'blue', 'grün', '赤'];
const NAMES = ['Red', 'Green', 'Blue', 'Green', 'Red'];

function colorsModel(): Uint8Array {
  const info = (name: string, elemType: number) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 1 }] } } },
  });
  const graph = {
    name: 'colors',
    input: [info('color', T.STRING)],
    output: [info('code', T.INT64), info('name', T.STRING)],
    node: [
      {
        opType: 'LabelEncoder',
        domain: 'ai.onnx.ml',
        input: ['color'],
        output: ['code'],
        attribute: [
          { name: 'keys_strings', type: A.STRINGS, strings: KEYS.map(utf8) },
          { name: 'values_int64s', type: A.INTS, ints: KEYS.map((_, i) => i) },
          { name: 'default_int64', type: A.INT, i: -1 },
        ],
      },
      {
        opType: 'LabelEncoder',
        domain: 'ai.onnx.ml',
        input: ['code'],
        output: ['name'],
        attribute: [
          { name: 'keys_int64s', type: A.INTS, ints: KEYS.map((_, i) => i) },
          { name: 'values_strings', type: A.STRINGS, strings: NAMES.map(utf8) },
          { name: 'default_string', type: A.STRING, s: utf8('unknown') },
        ],
      },
    ],
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/test/integration/string-tensors.test.ts',
    opsetImport: [
      { domain: '', version: 13 },
      { domain: 'ai.onnx.ml', version: 2 },
    ],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

const CONFIG = {
  name: 'colors',
  description: 'Test model: colour names to a code and a canonical name.',
  inputs: [{ name: 'color', dtype: 'string', shape: [-1, 1], labels: ['color'] }],
  outputs: [
    { name: 'code', dtype: 'int64', shape: [-1, 1] },
    { name: 'name', dtype: 'string', shape: [-1, 1] },
  ],
};

const redisUrl = inject('redisUrl');
const silent = createLogger({ level: 'silent', component: 'worker' });

let repository: string;
let worker: WorkerService;
const prefix = uniquePrefix();

beforeAll(async () => {
  repository = await mkdtemp(join(tmpdir(), 'conveyor-strings-'));
  await mkdir(join(repository, 'colors', '1'), { recursive: true });
  await writeFile(join(repository, 'colors', '1', 'model.onnx'), colorsModel());
  await writeFile(join(repository, 'colors', '1', 'model.json'), JSON.stringify(CONFIG));
  worker = await startWorkerService(
    loadConfig({
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      MODEL_REPOSITORY: repository,
      LOG_LEVEL: 'silent',
    }),
    silent,
  );
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await dropPrefix(redisUrl, prefix);
  await rm(repository, { recursive: true, force: true });
});

describe.each([
  // A low threshold, so that the long strings below go beside their job as raw bytes.
  ['queue', () => createClient({ redisUrl, prefix, blobThresholdBytes: 64 })],
  ['embedded', () => createEmbeddedClient({ repository })],
] as const)('string tensors through the %s client', (_kind, open) => {
  let client: ConveyorClient;
  beforeAll(async () => {
    client = await open();
  });
  afterAll(async () => {
    await client?.close();
  });

  it('takes an array of strings and gives int64 and string outputs, unicode included', async () => {
    const { outputs } = await client.predict('colors', {
      color: [['green'], ['purple'], ['赤'], [''], ['grün']],
    });
    expect(outputs.code?.dtype).toBe('int64');
    expect(Array.from(outputs.code?.data as BigInt64Array)).toEqual([1n, -1n, 4n, -1n, 3n]);
    expect(outputs.name).toMatchObject({
      dtype: 'string',
      shape: [5, 1],
      data: ['Green', 'unknown', 'Red', 'unknown', 'Green'],
    });
  });

  it('takes named features with text values', async () => {
    const { outputs } = await client.predict('colors', [{ color: 'blue' }, { color: 'grün' }]);
    expect(outputs.name?.data).toEqual(['Blue', 'Green']);
  });

  it('keeps each job its own rows when concurrent jobs run as one batch', async () => {
    const inputs = Array.from({ length: 40 }, (_, i) => [[KEYS[i % KEYS.length]!], [`x${i}`]]);
    const results = await Promise.all(inputs.map((color) => client.predict('colors', { color })));
    results.forEach((result, i) => {
      expect(result.outputs.name?.data).toEqual([NAMES[i % KEYS.length], 'unknown']);
    });
  });

  it('carries long strings (stored beside the job by the queue client) unchanged', async () => {
    const long = `${'blue '.repeat(200)}😀`;
    const { outputs } = await client.predict('colors', { color: [[long], ['blue']] });
    expect(outputs.name?.data).toEqual(['unknown', 'Blue']);
  });

  it('refuses numbers for a string input, a shape of another rank, and a number among strings, with their codes', async () => {
    const codeOf = (promise: Promise<unknown>) =>
      promise.then(
        () => 'no error',
        (error: unknown) => (isConveyorError(error) ? error.code : String(error)),
      );
    expect(await codeOf(client.predict('colors', { color: [[1], [2]] }))).toBe('ERR_INPUT_DTYPE');
    expect(await codeOf(client.predict('colors', { color: ['red'] }))).toBe('ERR_INPUT_SHAPE');
    expect(await codeOf(client.predict('colors', { color: [['red'], [7]] as string[][] }))).toBe(
      'ERR_TENSOR_INVALID',
    );
  });
});

describe('conveyor batch over a CSV of text, for a model that takes strings', () => {
  it('keeps every value as text (commas, quotes and unicode included) and writes string outputs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-strings-cli-'));
    try {
      const input = join(dir, 'colors.csv');
      const out = join(dir, 'out.jsonl');
      await writeFile(input, 'color\nred\n赤\n"blue, light"\n42\n\n"say ""hi"""\n');
      const run = await runCli(['batch', 'colors', input, '--embedded', '--out', out, '--quiet'], {
        env: { MODEL_REPOSITORY: repository },
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const records = jsonLines(await readFile(out, 'utf8')) as {
        line: number;
        outputs: { name: string[][] };
      }[];
      expect(records.map((r) => [r.line, r.outputs.name[0]?.[0]])).toEqual([
        [2, 'Red'],
        [3, 'Red'],
        [4, 'unknown'],
        [5, 'unknown'],
        [7, 'unknown'],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
