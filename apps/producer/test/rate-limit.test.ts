import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startRedisServer } from '../../../scripts/lib/redis-server.js';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { buildApp, type App } from '../src/app.js';
import { SYNC_MS } from '../src/plugins/rate-limit.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { testConfig, unusedClient } from './support.js';

const redisUrl = inject('redisUrl');
const ALICE = 'alice-secret-0123456789abcdef';
const BOB = 'bob-secret-0123456789abcdefgh';
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

let app: App | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** An app with a limit of `max` requests per minute (long enough that no window ends mid-test). */
async function appWith(
  max: number,
  env: Record<string, string> = {},
  prefix = uniquePrefix(),
): Promise<App> {
  app = buildApp(
    testConfig(redisUrl, prefix, {
      RATE_LIMIT_MAX: String(max),
      RATE_LIMIT_WINDOW_MS: '60000',
      ...env,
    }),
    {
      client: unusedClient(),
      redisPing: () => Promise.resolve(true),
      logger: memoryLogger('producer').logger,
    },
  );
  await app.ready();
  return app;
}

describe('rate limits per API key', () => {
  it('answers 429 ERR_RATE_LIMITED with Retry-After to one key over its limit while another is served', async () => {
    const a = await appWith(3, { API_KEYS: `alice:infer:${ALICE},bob:infer:${BOB}` });
    for (let i = 0; i < 3; i++) {
      const ok = await a.inject({ method: 'GET', url: '/v2', headers: bearer(ALICE) });
      expect(ok.statusCode).toBe(200);
    }
    const over = await a.inject({ method: 'GET', url: '/v2', headers: bearer(ALICE) });
    expect(over.statusCode).toBe(429);
    expect(over.json<ErrorBody>()).toMatchObject({ code: 'ERR_RATE_LIMITED', statusCode: 429 });
    const retryAfter = Number(over.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Every other route counts against the same key.
    const infer = await a.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: bearer(ALICE),
      payload: {},
    });
    expect(infer.statusCode).toBe(429);

    const bob = await a.inject({ method: 'GET', url: '/v2', headers: bearer(BOB) });
    expect(bob.statusCode).toBe(200);
  });

  it('keeps health routes open past the limit', async () => {
    const a = await appWith(1, { API_KEYS: `alice:infer:${ALICE}` });
    await a.inject({ method: 'GET', url: '/v2', headers: bearer(ALICE) });
    expect((await a.inject({ method: 'GET', url: '/v2', headers: bearer(ALICE) })).statusCode).toBe(
      429,
    );
    for (let i = 0; i < 5; i++) {
      expect((await a.inject({ method: 'GET', url: '/v2/health/live' })).statusCode).toBe(200);
      // Not ready (the test client has no models), but not limited either.
      expect((await a.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).not.toBe(429);
    }
  });

  it('does not count requests refused by auth against any key, and limits by address when auth is off', async () => {
    const keyed = await appWith(2, { API_KEYS: `alice:infer:${ALICE}` });
    for (let i = 0; i < 5; i++) {
      const bad = await keyed.inject({ method: 'GET', url: '/v2', headers: bearer(BOB) });
      expect(bad.statusCode).toBe(401);
    }
    const alice = await keyed.inject({ method: 'GET', url: '/v2', headers: bearer(ALICE) });
    expect(alice.statusCode).toBe(200);
    await keyed.close();

    const open = await appWith(2);
    const from = (ip: string) => open.inject({ method: 'GET', url: '/v2', remoteAddress: ip });
    expect((await from('10.0.0.1')).statusCode).toBe(200);
    expect((await from('10.0.0.1')).statusCode).toBe(200);
    expect((await from('10.0.0.1')).json<ErrorBody>().code).toBe('ERR_RATE_LIMITED');
    expect((await from('10.0.0.2')).statusCode).toBe(200);
  });

  it('is off with RATE_LIMIT_MAX=0', async () => {
    const a = await appWith(0);
    for (let i = 0; i < 20; i++) {
      expect((await a.inject({ method: 'GET', url: '/v2' })).statusCode).toBe(200);
    }
  });

  it.each([
    ['redis', 'shares one count across producers on the same Redis and prefix', 3],
    ['memory', 'counts on each producer alone', 6],
  ])('with RATE_LIMIT_STORE=%s, %s', async (store, _what, served) => {
    const prefix = uniquePrefix();
    const env = { API_KEYS: `alice:infer:${ALICE}`, RATE_LIMIT_STORE: store };
    const first = await appWith(3, env, prefix);
    const second = buildApp(
      testConfig(redisUrl, prefix, { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000', ...env }),
      {
        client: unusedClient(),
        redisPing: () => Promise.resolve(true),
        logger: memoryLogger('producer').logger,
      },
    );
    try {
      await second.ready();
      let ok = 0;
      // Alternating between the two replicas, as a load balancer would.
      for (let i = 0; i < 8; i++) {
        const replica = i % 2 === 0 ? first : second;
        const response = await replica.inject({
          method: 'GET',
          url: '/v2',
          headers: bearer(ALICE),
        });
        if (response.statusCode === 200) ok += 1;
        else expect(response.json<ErrorBody>().code).toBe('ERR_RATE_LIMITED');
      }
      expect(ok).toBe(served);
    } finally {
      await second.close();
    }
  });

  it('decides most requests locally and still holds a shared limit within its slack across two producers', async () => {
    // A Redis of its own: MONITOR on the shared one also streams every other test file's
    // commands, and ioredis can take a line that comes with MONITOR's OK for a reply to nothing
    // ("Command queue state error").
    const server = await startRedisServer();
    const redisUrl = server.url;
    const prefix = uniquePrefix();
    const max = 200;
    const env = {
      API_KEYS: `alice:infer:${ALICE}`,
      RATE_LIMIT_MAX: String(max),
      RATE_LIMIT_WINDOW_MS: '60000',
    };
    const deps = () => ({
      client: unusedClient(),
      redisPing: () => Promise.resolve(true),
      logger: memoryLogger('producer').logger,
    });
    const first = buildApp(testConfig(redisUrl, prefix, env), deps());
    const second = buildApp(testConfig(redisUrl, prefix, env), deps());
    const monitor = new Redis(redisUrl);
    try {
      await Promise.all([first.ready(), second.ready()]);
      const get = (replica: App) =>
        replica.inject({ method: 'GET', url: '/v2', headers: bearer(ALICE) });
      let counted = 0;
      const counter = await monitor.monitor();
      counter.on('monitor', (_time: string, args: string[]) => {
        if (/^eval/i.test(args[0] ?? '') && args[3]?.includes(':rate-limit:')) counted++;
      });
      // Waves of requests at both replicas at once, a sync apart, well past the limit.
      let ok = 0;
      for (let wave = 0; wave < 12; wave++) {
        const responses = await Promise.all(
          Array.from({ length: 20 }, (_, i) => get(i % 2 === 0 ? first : second)),
        );
        for (const response of responses) {
          if (response.statusCode === 200) ok += 1;
          else expect(response.json<ErrorBody>().code).toBe('ERR_RATE_LIMITED');
        }
        await new Promise((resolve) => setTimeout(resolve, SYNC_MS + 20));
      }
      // Slack: what the other replica takes in one sync above its last rate (here one wave).
      expect(ok).toBeGreaterThanOrEqual(max);
      expect(ok).toBeLessThanOrEqual(max + 20);
      // Far from the limit, counts leave in batches, not one per request.
      expect(counted).toBeLessThan(240 / 2);
      counter.disconnect();
      // Both replicas' counts reach Redis.
      await first.close();
      await second.close();
      const shared = Number(await monitor.get(`${prefix}:rate-limit:key:alice`));
      expect(shared).toBe(240);
    } finally {
      await first.close();
      await second.close();
      monitor.disconnect();
      await server.stop();
    }
  });
});
