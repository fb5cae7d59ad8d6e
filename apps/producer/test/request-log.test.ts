import { afterAll, describe, expect, inject, it } from 'vitest';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { buildApp } from '../src/app.js';
import { testConfig, unusedClient } from './support.js';

const config = testConfig(inject('redisUrl'), uniquePrefix());

/** A producer app logging at `level` into memory; requests go through `inject`. */
function appAt(level: 'info' | 'debug') {
  const { logger, records } = memoryLogger('producer', level);
  const app = buildApp(config, {
    client: unusedClient(),
    redisPing: () => Promise.resolve(true),
    logger,
  });
  return { app, records };
}

const badInfer = { method: 'POST', url: '/v2/models/iris/infer', payload: { inputs: 7 } } as const;

describe('request log lines', () => {
  const info = appAt('info');
  const debug = appAt('debug');
  afterAll(() => Promise.all([info.app.close(), debug.app.close()]));

  it('writes no line at info for a request that was answered', async () => {
    const response = await info.app.inject({ method: 'GET', url: '/v2/health/live' });
    expect(response.statusCode).toBe(200);
    // A later request's line would follow this one's: wait for it, then look at both.
    expect((await info.app.inject(badInfer)).statusCode).toBe(400);
    await expect.poll(() => info.records.some((r) => r.msg === 'request refused')).toBe(true);
    expect(info.records.filter((r) => r.reqId !== undefined).map((r) => r.msg)).toEqual([
      'request refused',
    ]);
  });

  it('writes the request and its outcome at debug', async () => {
    const response = await debug.app.inject({ method: 'GET', url: '/v2/health/live' });
    expect(response.statusCode).toBe(200);
    await expect.poll(() => debug.records.some((r) => r.msg === 'request completed')).toBe(true);
    const [incoming, completed] = debug.records.filter((r) => r.reqId === 'req-1');
    expect(incoming).toMatchObject({ level: 20, msg: 'incoming request' });
    expect(incoming?.req).toMatchObject({ method: 'GET', url: '/v2/health/live' });
    expect(completed).toMatchObject({
      level: 20,
      msg: 'request completed',
      req: { method: 'GET', url: '/v2/health/live' },
      res: { statusCode: 200 },
    });
    expect(completed?.responseTime).toEqual(expect.any(Number));
  });
});
