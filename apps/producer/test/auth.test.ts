import { describe, expect, inject, it } from 'vitest';
import { ConveyorError, loadConfig } from '@conveyor/shared';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { buildApp } from '../src/app.js';
// The requireScope decorator and request.principal are declared there.
import type {} from '../src/plugins/auth.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { testConfig, unusedClient } from './support.js';

const redisUrl = inject('redisUrl');
const INFER = 'infer-secret-0123456789abcdef';
const ADMIN = 'admin-secret-0123456789abcdef';
const KEYS = `ci:infer:${INFER},ops:admin:${ADMIN}`;

/** An app with the given API_KEYS and one extra route that needs the admin scope. */
function appWith(keys: string, env: Record<string, string> = {}) {
  const { logger, records } = memoryLogger('producer');
  const app = buildApp(testConfig(redisUrl, uniquePrefix(), { API_KEYS: keys, ...env }), {
    client: unusedClient(),
    redisPing: () => Promise.resolve(true),
    logger,
  });
  void app.register((child, _options, done) => {
    child.get('/admin-only', { onRequest: child.requireScope('admin') }, (request) => ({
      principal: request.principal ?? null,
    }));
    done();
  });
  return { app, records };
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('API keys', () => {
  it('refuses a route without a key with 401 ERR_UNAUTHORIZED and WWW-Authenticate: Bearer', async () => {
    const { app } = appWith(KEYS);
    const response = await app.inject({ method: 'GET', url: '/v2' });
    expect(response.statusCode).toBe(401);
    expect(response.json<ErrorBody>()).toMatchObject({ code: 'ERR_UNAUTHORIZED', statusCode: 401 });
    expect(response.headers['www-authenticate']).toBe('Bearer realm="conveyor"');
    await app.close();
  });

  it.each([
    ['an unknown secret', { authorization: 'Bearer not-a-known-secret-at-all' }],
    ['Basic credentials that are not user:password', { authorization: `Basic ${INFER}` }],
    [
      'Basic credentials with a wrong password',
      { authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` },
    ],
    ['another scheme', { authorization: `Digest ${INFER}` }],
    ['a bearer without a token', { authorization: 'Bearer ' }],
  ])('refuses %s with 401', async (_name, headers) => {
    const { app } = appWith(KEYS);
    const response = await app.inject({ method: 'GET', url: '/v2', headers });
    expect(response.statusCode).toBe(401);
    expect(response.json<ErrorBody>().code).toBe('ERR_UNAUTHORIZED');
    await app.close();
  });

  it('takes the secret as the password of HTTP Basic credentials, whatever the user name', async () => {
    const { app } = appWith(KEYS);
    const basic = (user: string, secret: string) => ({
      authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`,
    });
    expect(
      (await app.inject({ method: 'GET', url: '/v2', headers: basic('x', INFER) })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/v2', headers: basic('', ADMIN) })).statusCode,
    ).toBe(200);
    // The dashboard asks browsers for Basic credentials; an infer key is still not enough there.
    const anonymous = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm="conveyor dashboard"/);
    expect(
      (await app.inject({ method: 'GET', url: '/dashboard', headers: basic('x', INFER) }))
        .statusCode,
    ).toBe(403);
    await app.close();
  });

  it('lets an infer key and an admin key (admin implies infer) use the protocol routes', async () => {
    const { app } = appWith(KEYS);
    for (const secret of [INFER, ADMIN]) {
      const response = await app.inject({ method: 'GET', url: '/v2', headers: bearer(secret) });
      expect(response.statusCode).toBe(200);
    }
    const lower = await app.inject({
      method: 'GET',
      url: '/v2',
      headers: { authorization: `bearer ${INFER}` },
    });
    expect(lower.statusCode).toBe(200);
    await app.close();
  });

  it('refuses an infer key on an admin route with 403 ERR_FORBIDDEN, and lets an admin key in', async () => {
    const { app } = appWith(KEYS);
    const forbidden = await app.inject({
      method: 'GET',
      url: '/admin-only',
      headers: bearer(INFER),
    });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json<ErrorBody>()).toMatchObject({ code: 'ERR_FORBIDDEN', statusCode: 403 });
    expect(forbidden.headers['www-authenticate']).toContain('insufficient_scope');
    const allowed = await app.inject({ method: 'GET', url: '/admin-only', headers: bearer(ADMIN) });
    expect(allowed.statusCode).toBe(200);
    expect(allowed.json()).toEqual({ principal: { name: 'ops', scope: 'admin' } });
    await app.close();
  });

  it('keeps the health probes and the API documentation open', async () => {
    const { app } = appWith(KEYS);
    for (const url of ['/v2/health/live', '/v2/health/ready', '/docs/json', '/docs']) {
      const response = await app.inject({ method: 'GET', url });
      expect({ url, status: response.statusCode < 400 || response.statusCode === 503 }).toEqual({
        url,
        status: true,
      });
    }
    await app.close();
  });

  it('answers an unknown route 401 without a key and 404 with one', async () => {
    const { app } = appWith(KEYS);
    expect((await app.inject({ method: 'GET', url: '/v3/anything' })).statusCode).toBe(401);
    const known = await app.inject({ method: 'GET', url: '/v3/anything', headers: bearer(INFER) });
    expect(known.statusCode).toBe(404);
    await app.close();
  });

  it('refuses a request without a key before reading its body', async () => {
    const { app } = appWith(KEYS, { MAX_BODY_BYTES: '1024' });
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: {
        inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [] }],
        pad: 'x'.repeat(4096),
      },
    });
    expect(response.statusCode).toBe(401);
    await app.close();
  });

  it('never writes a secret to the log', async () => {
    const { app, records } = appWith(KEYS);
    await app.inject({ method: 'GET', url: '/v2', headers: bearer(INFER) });
    await app.inject({ method: 'GET', url: '/admin-only', headers: bearer(INFER) });
    await app.inject({
      method: 'GET',
      url: '/v2',
      headers: { authorization: 'Bearer wrong-wrong-wrong' },
    });
    expect(records.length).toBeGreaterThan(0);
    const text = JSON.stringify(records);
    expect(text).not.toContain(INFER);
    expect(text).not.toContain('wrong-wrong-wrong');
    await app.close();
  });

  it('is off when API_KEYS is empty, and says so once at start', async () => {
    const { app, records } = appWith('');
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/v2' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/admin-only' })).statusCode).toBe(200);
    const warnings = records.filter((r) => String(r.msg).startsWith('API_KEYS is empty'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40 });
    await app.close();
  });
});

describe('API_KEYS configuration', () => {
  const refusal = (value: string) => {
    try {
      loadConfig({ API_KEYS: value });
      return undefined;
    } catch (error) {
      return error instanceof ConveyorError ? error : undefined;
    }
  };

  it('reads name:scope:secret entries, a secret may hold ":"', () => {
    const config = loadConfig({ API_KEYS: ` ci:infer:${INFER} , ops:admin:a:b:${ADMIN}` });
    expect(config.API_KEYS).toEqual([
      { name: 'ci', scope: 'infer', secret: INFER },
      { name: 'ops', scope: 'admin', secret: `a:b:${ADMIN}` },
    ]);
  });

  it.each([
    ['a short secret', 'ci:infer:short-secret'],
    ['an unknown scope', `ci:root:${INFER}`],
    ['a repeated name', `ci:infer:${INFER},ci:admin:${ADMIN}`],
    ['a repeated secret', `ci:infer:${INFER},ops:admin:${INFER}`],
    ['a missing secret', 'ci:infer'],
  ])('refuses %s with ERR_CONFIG_INVALID, without echoing the secret', (_name, value) => {
    const error = refusal(value);
    expect(error?.code).toBe('ERR_CONFIG_INVALID');
    expect(error?.message).not.toContain('short-secret');
    expect(error?.message).not.toContain(INFER);
  });
});
