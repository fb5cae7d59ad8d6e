import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { externalDataModel } from '../../../packages/engine/test/support/onnx-models.js';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { tempRepository, type TempRepository } from '../../../test/support/repository.js';
import { snapshot } from '../../../test/support/snapshot.js';
import { MODELS, startInProcessWorker } from '../../../test/support/workers.js';
import type { ModelStatusBody, VersionPublished } from '../src/models/model-admin-schemas.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const ADMIN = 'admin-secret-0123456789abcdef';
const INFER = 'infer-secret-0123456789abcdef';
const KEYS = `ci:infer:${INFER},ops:admin:${ADMIN}`;
const LIMIT = 4096;
const ONNX = { 'content-type': 'application/octet-stream' };
const FLOWER = { features: [[6.7, 3.0, 5.2, 2.3]] };

describe('POST /v1/models/{name}/versions, with a worker on the same repository', () => {
  const prefix = uniquePrefix();
  let repo: TempRepository;
  let repository: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let producer: TestProducer;
  let iris: Buffer;

  beforeAll(async () => {
    iris = await readFile(join(MODELS, 'iris', '1', 'model.onnx'));
    repo = await tempRepository({ iris: ['1'] });
    repository = repo.root;
    // No periodic rescan: the version must be found through the rescan request (or file events).
    worker = await startInProcessWorker(redisUrl, prefix, {
      MODEL_REPOSITORY: repository,
      MODEL_RESCAN_MS: '0',
    });
    producer = await startProducer(
      testConfig(redisUrl, prefix, {
        MODEL_REPOSITORY: repository,
        API_KEYS: KEYS,
        MAX_MODEL_UPLOAD_BYTES: String(LIMIT),
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await repo?.remove();
  });

  const upload = (
    url: string,
    payload: Buffer | Readable | string,
    headers: Record<string, string> = ONNX,
  ) =>
    producer.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${ADMIN}`, ...headers },
      payload,
    });

  const status = async (name: string) =>
    (
      await producer.app.inject({
        method: 'GET',
        url: `/v1/models/${name}`,
        headers: { authorization: `Bearer ${INFER}` },
      })
    ).json<ModelStatusBody>();

  it.each([
    ['bytes that are not ONNX', 'ERR_MODEL_FILE_INVALID', 400, () => Buffer.from('not a model')],
    ['a truncated model', 'ERR_MODEL_FILE_INVALID', 400, () => iris.subarray(0, iris.length / 2)],
    ['an empty body', 'ERR_MODEL_FILE_INVALID', 400, () => Buffer.alloc(0)],
    [
      'a model reading external data outside its folder',
      'ERR_MODEL_UNSAFE',
      400,
      () => Buffer.from(externalDataModel('../../../etc/passwd')),
    ],
    ['a model over the limit', 'ERR_PAYLOAD_TOO_LARGE', 413, () => Buffer.alloc(LIMIT + 1)],
    [
      'a streamed model over the limit (no content-length)',
      'ERR_PAYLOAD_TOO_LARGE',
      413,
      () => Readable.from([iris, iris, iris, iris, iris, iris, iris, iris, iris, iris]),
    ],
  ] as const)('refuses %s with %s and writes nothing', async (_name, code, statusCode, body) => {
    const before = await snapshot(repository);
    const response = await upload('/v1/models/iris/versions', body());
    expect(response.statusCode).toBe(statusCode);
    expect(response.json<ErrorBody>().code).toBe(code);
    expect(await snapshot(repository)).toEqual(before);
  });

  it.each([
    ['a model name that leads out of the repository', '/v1/models/..%2F..%2Ftmp/versions'],
    ['a model name with a slash', '/v1/models/iris%2F2/versions'],
    ['a version that is a path', '/v1/models/iris/versions?version=..%2F..%2Fx'],
    ['a version that is not a positive integer', '/v1/models/iris/versions?version=0'],
  ])('refuses %s with 400 ERR_VALIDATION and writes nothing', async (_name, url) => {
    const before = await snapshot(repository);
    const response = await upload(url, iris);
    expect(response.statusCode).toBe(400);
    expect(response.json<ErrorBody>().code).toBe('ERR_VALIDATION');
    expect(await snapshot(repository)).toEqual(before);
  });

  it('refuses a version that exists with 409 ERR_MODEL_VERSION_EXISTS and leaves it as it was', async () => {
    const before = await snapshot(repository);
    const response = await upload('/v1/models/iris/versions?version=1', iris);
    expect(response.statusCode).toBe(409);
    expect(response.json<ErrorBody>().code).toBe('ERR_MODEL_VERSION_EXISTS');
    expect(await snapshot(repository)).toEqual(before);
  });

  it('refuses a JSON body with 415 ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
    const response = await upload('/v1/models/iris/versions', '{"model": "iris"}', {
      'content-type': 'application/json',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json<ErrorBody>().code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses an upload with an infer key (403) before reading it', async () => {
    const before = await snapshot(repository);
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v1/models/iris/versions',
      headers: { authorization: `Bearer ${INFER}`, ...ONNX },
      payload: iris,
    });
    expect(response.statusCode).toBe(403);
    expect(response.json<ErrorBody>().code).toBe('ERR_FORBIDDEN');
    expect(await snapshot(repository)).toEqual(before);
  });

  it('publishes the next version, pins production first, and a running worker serves it', async () => {
    const response = await upload('/v1/models/iris/versions', iris);
    expect(response.statusCode).toBe(201);
    expect(response.json<VersionPublished>()).toEqual({
      name: 'iris',
      version: '2',
      path: 'iris/2/model.onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
      production: { versions: { '1': 100 }, percent: { '1': 100 }, description: '1' },
      pinned: true,
      notified: 1,
      warnings: [],
    });
    expect(await readFile(join(repository, 'iris', '2', 'model.onnx'))).toEqual(iris);
    expect(existsSync(join(repository, '.conveyor-staging'))).toBe(false);

    await expect
      .poll(async () => (await status('iris')).versions.map((v) => `${v.version}:${v.state}`), {
        timeout: 30_000,
        interval: 200,
      })
      .toEqual(['1:ready', '2:ready']);
    const pinned = await producer.client.predict('iris', FLOWER, { version: '2' });
    expect(pinned.version).toBe('2');
    // Production was pinned to 1 before version 2 appeared: unpinned requests stay on 1.
    const unpinned = await producer.client.predict('iris', FLOWER);
    expect(unpinned.version).toBe('1');
    const history = (await status('iris')).history;
    expect(history[0]).toMatchObject({
      action: 'set',
      alias: 'production',
      to: { '1': 100 },
      by: 'ops',
    });
  });

  it('publishes a later version without pinning again, and a new model as its version 1', async () => {
    const next = await upload('/v1/models/iris/versions', iris);
    expect(next.json<VersionPublished>()).toMatchObject({
      version: '3',
      pinned: false,
      production: { versions: { '1': 100 } },
    });
    const fresh = await upload('/v1/models/flowers/versions', Readable.from([iris]));
    expect(fresh.statusCode).toBe(201);
    expect(fresh.json<VersionPublished>()).toMatchObject({
      name: 'flowers',
      version: '1',
      pinned: false,
      production: null,
    });
    await expect
      .poll(async () => (await status('flowers')).following, { timeout: 30_000, interval: 200 })
      .toBe('1');
  });
});
