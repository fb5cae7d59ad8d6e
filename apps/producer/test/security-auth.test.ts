import { Writable } from 'node:stream';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import { createLogger } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { buildApp, type App } from '../src/app.js';
import { clientOptionsFromConfig } from '../src/client-options.js';
import { testConfig } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const INFER = 'infer-secret-Zq81kLmN0pQr5tUv';
const ADMIN = 'admin-secret-Yx72jKlM9oPq4sTu';
const WEBHOOK = 'webhook-secret-Wv63hIjK8nOp3rSt';
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

let app: App;
let client: QueueClient;
const lines: string[] = [];

beforeAll(async () => {
  const config = testConfig(redisUrl, prefix, {
    API_KEYS: `ci:infer:${INFER},ops:admin:${ADMIN}`,
    WEBHOOK_SECRET: WEBHOOK,
    RATE_LIMIT_MAX: '40',
    RATE_LIMIT_WINDOW_MS: '60000',
    LOG_LEVEL: 'trace',
  });
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'trace', component: 'producer', destination });
  client = await createClient(clientOptionsFromConfig(config, logger));
  app = buildApp(config, { client, redisPing: () => Promise.resolve(true), logger });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await client?.close();
  await dropPrefix(redisUrl, prefix);
});

/** Every route of the app as [method, path], from fastify's printed route tree. */
function routes(): [string, string][] {
  const found: [string, string][] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const at = line.indexOf('── ');
    if (at < 0) continue;
    const [segment = '', methods] = line.slice(at + 3).split(' (');
    stack.length = (at - 1) / 4;
    stack.push(segment);
    for (const method of methods?.replace(')', '').split(', ') ?? [])
      found.push([method, stack.join('')]);
  }
  return found;
}

describe('admin routes', () => {
  it('every dashboard route refuses no key (401) and an infer key (403), and serves an admin key', async () => {
    const admin = routes().filter(([, path]) => path.startsWith('/dashboard'));
    expect(admin.length).toBeGreaterThan(40);
    for (const [method, template] of admin) {
      const url = template.replace(/:[A-Za-z]+/g, 'x').replace('*', 'x.js');
      const what = `${method} ${url}`;
      const anonymous = await app.inject({ method: method as 'GET', url });
      expect(anonymous.statusCode, what).toBe(401);
      const infer = await app.inject({ method: method as 'GET', url, headers: bearer(INFER) });
      if (infer.statusCode === 404) {
        // A path with nothing behind it (a static file that does not exist): nothing to protect,
        // as long as an admin key finds nothing there either.
        const asAdmin = await app.inject({ method: method as 'GET', url, headers: bearer(ADMIN) });
        expect(asAdmin.statusCode, what).toBe(404);
        continue;
      }
      expect(infer.statusCode, what).toBe(403);
      if (method !== 'HEAD') expect(infer.json<{ code: string }>().code).toBe('ERR_FORBIDDEN');
    }
    const page = await app.inject({ method: 'GET', url: '/dashboard', headers: bearer(ADMIN) });
    expect(page.statusCode).toBe(200);
    const queues = await app.inject({
      method: 'GET',
      url: '/dashboard/api/queues',
      headers: bearer(ADMIN),
    });
    expect(queues.statusCode).toBe(200);
  });

  it('every other route but health and docs needs a key', async () => {
    for (const [method, template] of routes()) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      if (template.startsWith('/v2/health') || template.startsWith('/docs')) continue;
      const url = template.replace(/:[A-Za-z]+/g, 'x').replace('*', 'x');
      const response = await app.inject({ method: method as 'GET', url });
      expect(response.statusCode, `${method} ${url}`).toBe(401);
    }
  });
});

describe('secrets in the log', () => {
  it('writes no API key or webhook secret, whatever the request, at trace level', async () => {
    const calls: InjectOptions[] = [
      { method: 'GET', url: '/v2', headers: bearer(INFER) },
      { method: 'GET', url: '/v2', headers: bearer(`${INFER}x`) },
      { method: 'GET', url: '/v2', headers: { authorization: `Basic ${ADMIN}` } },
      { method: 'GET', url: '/dashboard', headers: bearer(INFER) },
      { method: 'GET', url: '/dashboard/api/queues', headers: bearer(ADMIN) },
      { method: 'POST', url: '/v2/models/iris/infer', headers: bearer(INFER), payload: '{' },
      {
        method: 'POST',
        url: '/v1/models/iris/jobs',
        headers: bearer(INFER),
        payload: { inputs: {}, parameters: { callback_url: 'http://127.0.0.1/x' } },
      },
      { method: 'GET', url: `/v2/models/${INFER}`, headers: bearer(ADMIN) },
    ];
    for (const call of calls) await app.inject(call);
    // Over the rate limit too.
    for (let i = 0; i < 45; i++)
      await app.inject({ method: 'GET', url: '/v2', headers: bearer(INFER) });
    const text = lines.join('');
    expect(text).toContain('"reqId"');
    expect(text).toContain('ERR_RATE_LIMITED');
    // The one request that put a secret in its URL logs it there (the URL is the client's
    // choice); nothing else may.
    const withoutUrlEcho = text.replaceAll(`/v2/models/${INFER}`, '');
    for (const secret of [INFER, ADMIN, WEBHOOK]) expect(withoutUrlEcho).not.toContain(secret);
  });
});
