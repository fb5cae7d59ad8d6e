import { describe, expect, inject, it } from 'vitest';
import { ConveyorError, type ErrorCode } from '@conveyor/shared';
import { buildApp } from '../src/app.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { uniquePrefix } from '../../../test/support/prefix.js';
import { memoryLogger } from '../../../test/support/workers.js';
import { testConfig, unusedClient } from './support.js';

// Infer reads the queue depth (back-pressure) before predict: an empty prefix on the test Redis.
const config = testConfig(inject('redisUrl'), uniquePrefix());
const features = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
};

/** An app whose client's predict throws `thrown`, with its log records. */
function appThrowing(thrown: unknown) {
  const { logger, records } = memoryLogger('producer');
  const app = buildApp(config, {
    client: unusedClient({
      predict: () => {
        throw thrown;
      },
    }),
    redisPing: () => Promise.resolve(true),
    logger,
  });
  return { app, records };
}

describe('the error handler', () => {
  it('turns an unknown throw into 500 ERR_INTERNAL without its message, and logs it', async () => {
    const { app, records } = appThrowing(new Error('secret path /etc/conveyor/key'));
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: features,
    });
    const body = response.json<ErrorBody>();
    expect(response.statusCode).toBe(500);
    expect(body).toMatchObject({ code: 'ERR_INTERNAL', statusCode: 500, error: body.message });
    expect(JSON.stringify(body)).not.toContain('secret');
    expect(records.find((r) => r.msg === 'request failed')).toMatchObject({
      level: 50,
      err: { message: 'secret path /etc/conveyor/key' },
    });
    await app.close();
  });

  it('keeps a ConveyorError ERR_INTERNAL message out of the body too', async () => {
    const { app } = appThrowing(new ConveyorError('ERR_INTERNAL', 'secret detail'));
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: features,
    });
    expect(response.statusCode).toBe(500);
    expect(JSON.stringify(response.json())).not.toContain('secret');
    await app.close();
  });

  const catalogued: [ErrorCode, number][] = [
    ['ERR_QUEUE_UNAVAILABLE', 503],
    ['ERR_CLOSED', 503],
    ['ERR_INFERENCE_FAILED', 500],
    ['ERR_MODEL_UNAVAILABLE', 503],
    ['ERR_DEADLINE_EXCEEDED', 504],
  ];
  it.each(catalogued)('answers %s with its catalogue status %i', async (code, status) => {
    const { app } = appThrowing(new ConveyorError(code, 'what happened'));
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: features,
    });
    expect(response.statusCode).toBe(status);
    expect(response.json()).toEqual({
      error: 'what happened',
      code,
      message: 'what happened',
      statusCode: status,
    });
    await app.close();
  });

  it('puts the id of a job that failed on the worker in the body and the header', async () => {
    const { app } = appThrowing(
      new ConveyorError('ERR_INFERENCE_FAILED', 'boom', { details: { jobId: '42' } }),
    );
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: features,
    });
    expect(response.json()).toMatchObject({ code: 'ERR_INFERENCE_FAILED', job_id: '42' });
    expect(response.headers['conveyor-job-id']).toBe('42');
    await app.close();
  });

  it('answers an unknown route with 404 in the same body shape', async () => {
    const { app } = appThrowing(new Error('unused'));
    const response = await app.inject({ method: 'GET', url: '/v2/nothing-here' });
    expect(response.statusCode).toBe(404);
    const body = response.json<ErrorBody>();
    expect(body).toMatchObject({
      code: 'ERR_ROUTE_NOT_FOUND',
      statusCode: 404,
      error: body.message,
    });
    await app.close();
  });

  it('answers a body that is not JSON with 415', async () => {
    const { app } = appThrowing(new Error('unused'));
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: 'a=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(response.statusCode).toBe(415);
    expect(response.json()).toMatchObject({ code: 'ERR_UNSUPPORTED_MEDIA_TYPE', statusCode: 415 });
    await app.close();
  });

  it('answers an empty JSON body with 400 ERR_VALIDATION', async () => {
    const { app } = appThrowing(new Error('unused'));
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'ERR_VALIDATION', statusCode: 400 });
    await app.close();
  });
});
