import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { ROUTING_RULE } from '@conveyor/sdk';
import { aliasHistoryKey, aliasesKey } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { tempRepository, type TempRepository } from '../../../test/support/repository.js';
import { startInProcessWorker } from '../../../test/support/workers.js';
import type { AliasChanged, ModelStatusBody } from '../src/models/model-admin-schemas.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const INFER = 'infer-secret-0123456789abcdef';
const ADMIN = 'admin-secret-0123456789abcdef';
const KEYS = `ci:infer:${INFER},ops:admin:${ADMIN}`;
const asInfer = { authorization: `Bearer ${INFER}` };
const asAdmin = { authorization: `Bearer ${ADMIN}` };

describe('model lifecycle routes, with a worker serving iris 1 and 2', () => {
  const prefix = uniquePrefix();
  let repo: TempRepository;
  let repository: string;
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let producer: TestProducer;
  let redis: Redis;

  beforeAll(async () => {
    repo = await tempRepository({ iris: ['1', '2'] });
    repository = repo.root;
    worker = await startInProcessWorker(redisUrl, prefix, { MODEL_REPOSITORY: repository });
    producer = await startProducer(
      testConfig(redisUrl, prefix, { MODEL_REPOSITORY: repository, API_KEYS: KEYS }),
    );
    redis = new Redis(redisUrl);
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    redis?.disconnect();
    await dropPrefix(redisUrl, prefix);
    await repo?.remove();
  });

  // Each test starts from a model without aliases or history.
  beforeEach(async () => {
    await redis.del(aliasesKey(prefix), aliasHistoryKey(prefix, 'iris'));
  });

  const call = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object) =>
    producer.app.inject({
      method,
      url,
      headers: asAdmin,
      ...(payload !== undefined && { payload }),
    });
  const status = async () =>
    (
      await producer.app.inject({ method: 'GET', url: '/v1/models/iris', headers: asInfer })
    ).json<ModelStatusBody>();

  it('shows the versions, where unpinned requests go and the routing rule to an infer key', async () => {
    const response = await producer.app.inject({
      method: 'GET',
      url: '/v1/models/iris',
      headers: asInfer,
    });
    expect(response.statusCode).toBe(200);
    const body = response.json<ModelStatusBody>();
    expect(body.versions.map((v) => [v.version, v.state, v.workers])).toEqual([
      ['1', 'ready', 1],
      ['2', 'ready', 1],
    ]);
    expect(body.versions[1]?.inputs).toEqual([
      { name: 'features', datatype: 'FP32', shape: [-1, 4] },
    ]);
    expect(body).toMatchObject({
      name: 'iris',
      aliases: {},
      following: '2',
      unpinned: { versions: { '2': 100 }, percent: { '2': 100 }, description: '2' },
      rule: ROUTING_RULE,
      history: [],
    });
  });

  it('answers /v2 metadata and readiness for an alias with the versions it names', async () => {
    const v2 = (url: string) => producer.app.inject({ method: 'GET', url, headers: asInfer });
    // Unset, production follows the newest version, as requests do.
    expect((await v2('/v2/models/iris/versions/production')).json()).toMatchObject({
      versions: ['1', '2'],
    });
    await call('PUT', '/v1/models/iris/aliases/canary', { versions: { '2': 5, '1': 95 } });
    const canary = await v2('/v2/models/iris/versions/canary');
    expect(canary.statusCode).toBe(200);
    expect(canary.json()).toMatchObject({ name: 'iris', versions: ['1', '2'] });
    expect((await v2('/v2/models/iris/versions/canary/ready')).statusCode).toBe(200);
    await call('PUT', '/v1/models/iris/aliases/canary', { version: '2' });
    expect((await v2('/v2/models/iris/versions/canary')).json()).toMatchObject({ versions: ['2'] });
    const missing = await v2('/v2/models/iris/versions/nightly');
    expect(missing.statusCode).toBe(404);
    expect(missing.json<ErrorBody>().code).toBe('ERR_ALIAS_NOT_FOUND');
  });

  it('answers 404 ERR_MODEL_NOT_FOUND for a model no worker serves', async () => {
    const response = await call('GET', '/v1/models/orchid');
    expect(response.statusCode).toBe(404);
    expect(response.json<ErrorBody>().code).toBe('ERR_MODEL_NOT_FOUND');
  });

  it('sets an alias to weights or to one version, and records the API key that did', async () => {
    const split = await call('PUT', '/v1/models/iris/aliases/canary', {
      versions: { '2': 5, '1': 95 },
    });
    expect(split.statusCode).toBe(200);
    expect(split.json<AliasChanged>()).toMatchObject({
      name: 'iris',
      alias: 'canary',
      target: {
        versions: { '2': 5, '1': 95 },
        percent: { '2': 5, '1': 95 },
        description: '2:5% 1:95%',
      },
      change: { alias: 'canary', action: 'set', to: { '2': 5, '1': 95 }, by: 'ops' },
      warnings: [],
    });
    const single = await call('PUT', '/v1/models/iris/aliases/canary', { version: '2' });
    expect(single.json<AliasChanged>().change).toMatchObject({
      from: { '2': 5, '1': 95 },
      to: { '2': 100 },
    });
    const body = await status();
    expect(body.aliases).toEqual({
      canary: { versions: { '2': 100 }, percent: { '2': 100 }, description: '2' },
    });
    // canary is not production: unpinned requests still follow the newest version.
    expect(body.following).toBe('2');
  });

  it('sets an alias naming a version no worker serves, with a warning naming it', async () => {
    const response = await call('PUT', '/v1/models/iris/aliases/next', {
      versions: { '7': 10, '2': 90 },
    });
    expect(response.statusCode).toBe(200);
    const { warnings } = response.json<AliasChanged>();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/version 7 of "iris"/);
  });

  it('deletes an alias, and answers 404 ERR_ALIAS_NOT_FOUND for one the model does not have', async () => {
    await call('PUT', '/v1/models/iris/aliases/legacy', { version: '1' });
    const deleted = await call('DELETE', '/v1/models/iris/aliases/legacy');
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json<AliasChanged>()).toMatchObject({
      target: null,
      change: { action: 'delete', from: { '1': 100 }, by: 'ops' },
    });
    expect((await status()).aliases).toEqual({});
    const again = await call('DELETE', '/v1/models/iris/aliases/legacy');
    expect(again.statusCode).toBe(404);
    expect(again.json<ErrorBody>().code).toBe('ERR_ALIAS_NOT_FOUND');
  });

  it('rolls a version out to a share of production, promotes it, and rolls it back', async () => {
    // A legacy version 1 in production, version 2 rolled out against it.
    await call('PUT', '/v1/models/iris/aliases/production', { version: '1' });
    const rollout = await call('POST', '/v1/models/iris/rollout', { version: '2', weight: 10 });
    expect(rollout.statusCode).toBe(200);
    expect(rollout.json<AliasChanged>()).toMatchObject({
      alias: 'production',
      target: { versions: { '2': 10, '1': 90 }, description: '2:10% 1:90%' },
      change: { action: 'rollout', from: { '1': 100 } },
    });
    expect((await status()).unpinned?.versions).toEqual({ '2': 10, '1': 90 });

    const promote = await call('POST', '/v1/models/iris/promote');
    expect(promote.json<AliasChanged>()).toMatchObject({
      target: { versions: { '2': 100 } },
      change: { action: 'promote' },
    });

    const rollback = await call('POST', '/v1/models/iris/rollback');
    expect(rollback.statusCode).toBe(200);
    expect(rollback.json<AliasChanged>()).toMatchObject({
      target: { versions: { '1': 100 } },
      change: { action: 'rollback', from: { '2': 100 }, to: { '1': 100 } },
    });
    const after = await status();
    expect(after).toMatchObject({ following: null, unpinned: { versions: { '1': 100 } } });
    expect(after.history.map((c) => c.action)).toEqual(['rollback', 'promote', 'rollout', 'set']);
  });

  it('pins production where unpinned requests went before the first rollout', async () => {
    const rollout = await call('POST', '/v1/models/iris/rollout', { version: '1', weight: 20 });
    expect(rollout.json<AliasChanged>().target?.versions).toEqual({ '1': 20, '2': 80 });
    const history = (await status()).history;
    expect(history.map((c) => [c.action, c.to])).toEqual([
      ['rollout', { '1': 20, '2': 80 }],
      ['set', { '2': 100 }],
    ]);
  });

  it('promotes a named version', async () => {
    const promote = await call('POST', '/v1/models/iris/promote', { version: '1' });
    expect(promote.json<AliasChanged>().target?.versions).toEqual({ '1': 100 });
  });

  it('refuses a rollback with nothing to go back to with 400 ERR_VALIDATION', async () => {
    const response = await call('POST', '/v1/models/iris/rollback');
    expect(response.statusCode).toBe(400);
    expect(response.json<ErrorBody>().code).toBe('ERR_VALIDATION');
  });

  it.each([
    ['an alias name that is not one', 'PUT', '/v1/models/iris/aliases/Prod!', { version: '1' }],
    [
      'weights that are all zero',
      'PUT',
      '/v1/models/iris/aliases/canary',
      { versions: { '1': 0 } },
    ],
    ['a version that is not a number', 'PUT', '/v1/models/iris/aliases/canary', { version: 'v2' }],
    ['a weight over 100', 'POST', '/v1/models/iris/rollout', { version: '2', weight: 150 }],
    ['a model name with a path in it', 'GET', '/v1/models/..%2Firis', undefined],
  ] as const)('refuses %s with 400 ERR_VALIDATION', async (_name, method, url, payload) => {
    const response = await call(method, url, payload);
    expect(response.statusCode).toBe(400);
    expect(response.json<ErrorBody>().code).toBe('ERR_VALIDATION');
  });

  it('keeps the history newest first, as long as the limit asks', async () => {
    for (const version of ['1', '2', '1'])
      await call('PUT', '/v1/models/iris/aliases/canary', { version });
    const response = await producer.app.inject({
      method: 'GET',
      url: '/v1/models/iris/history?limit=2',
      headers: asInfer,
    });
    expect(response.statusCode).toBe(200);
    const { history } = response.json<{ history: AliasChanged['change'][] }>();
    expect(history.map((c) => [c.from, c.to])).toEqual([
      [{ '2': 100 }, { '1': 100 }],
      [{ '1': 100 }, { '2': 100 }],
    ]);
    expect(Date.parse(history[0]!.at)).toBeGreaterThanOrEqual(Date.parse(history[1]!.at));
    const tooMany = await call('GET', '/v1/models/iris/history?limit=201');
    expect(tooMany.json<ErrorBody>().code).toBe('ERR_VALIDATION');
  });

  it('keeps at most 200 changes of a model', async () => {
    for (let i = 0; i < 205; i += 1)
      await call('PUT', '/v1/models/iris/aliases/canary', { version: i % 2 === 0 ? '1' : '2' });
    const response = await call('GET', '/v1/models/iris/history?limit=200');
    const { history } = response.json<{ history: AliasChanged['change'][] }>();
    expect(history).toHaveLength(200);
    // The oldest entries went: the first change (which had no `from`) is no longer there.
    expect(history.every((c) => c.from !== undefined)).toBe(true);
  });

  it.each([
    ['PUT', '/v1/models/iris/aliases/canary', { version: '1' }],
    ['DELETE', '/v1/models/iris/aliases/canary', undefined],
    ['POST', '/v1/models/iris/rollout', { version: '2', weight: 5 }],
    ['POST', '/v1/models/iris/promote', undefined],
    ['POST', '/v1/models/iris/rollback', undefined],
  ] as const)(
    'refuses %s %s to an infer key (403) and to no key (401)',
    async (method, url, payload) => {
      const withInfer = await producer.app.inject({
        method,
        url,
        headers: asInfer,
        ...(payload && { payload }),
      });
      expect(withInfer.statusCode).toBe(403);
      expect(withInfer.json<ErrorBody>().code).toBe('ERR_FORBIDDEN');
      const anonymous = await producer.app.inject({ method, url, ...(payload && { payload }) });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json<ErrorBody>().code).toBe('ERR_UNAUTHORIZED');
      expect(await redis.hget(aliasesKey(prefix), 'iris')).toBeNull();
    },
  );

  it('lets no key read a model status (401)', async () => {
    const response = await producer.app.inject({ method: 'GET', url: '/v1/models/iris' });
    expect(response.statusCode).toBe(401);
  });

  it('documents every lifecycle route in the OpenAPI document', async () => {
    const doc = (await producer.app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    expect(Object.keys(doc.paths['/v1/models/{name}'] ?? {})).toContain('get');
    expect(Object.keys(doc.paths['/v1/models/{name}/aliases/{alias}'] ?? {}).sort()).toEqual([
      'delete',
      'put',
    ]);
    for (const action of ['rollout', 'promote', 'rollback', 'versions'])
      expect(Object.keys(doc.paths[`/v1/models/{name}/${action}`] ?? {})).toContain('post');
    expect(Object.keys(doc.paths['/v1/models/{name}/history'] ?? {})).toContain('get');
  });
});
