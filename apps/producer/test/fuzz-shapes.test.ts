import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ERROR_CATALOGUE, isConveyorError, type ErrorCode } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

/**
 * Shapes whose element count would need gigabytes are refused from their arithmetic, before
 * anything is allocated: in JSON, in the binary extension, in /v1 jobs and in SDK inputs.
 */

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const HUGE = [
  [1e6, 1e6],
  [2 ** 31, 2 ** 31],
  [2 ** 16, 2 ** 16, 2 ** 16],
  [2 ** 53, 1],
  [2 ** 40, 4],
];
const REFUSED = /^ERR_(TENSOR_TOO_LARGE|TENSOR_INVALID|INPUT_SHAPE|VALIDATION)$/;
const LIMIT = 256 * 1024 * 1024;

/** A typed refusal: a 4xx whose body carries one of the expected codes, with that code's status. */
function expectRefused(response: { statusCode: number; json: <T>() => T }): void {
  const body = response.json<{ code: string; statusCode: number }>();
  expect(body.code).toMatch(REFUSED);
  expect(response.statusCode).toBeGreaterThanOrEqual(400);
  expect(response.statusCode).toBeLessThan(500);
  expect(response.statusCode).toBe(ERROR_CATALOGUE[body.code as ErrorCode].status);
  expect(body.statusCode).toBe(response.statusCode);
}

let producer: TestProducer;
let rssBefore: number;

beforeAll(async () => {
  producer = await startProducer(testConfig(redisUrl, prefix, { RATE_LIMIT_MAX: '0' }));
  rssBefore = process.memoryUsage().rss;
}, 60_000);

afterAll(async () => {
  await producer?.close();
  await dropPrefix(redisUrl, prefix);
  // Nothing the size of one such tensor was ever held.
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(LIMIT);
});

describe.each(HUGE)('a shape of [%s, %s, ...]', (...dims: number[]) => {
  const shape = dims.filter((d) => d !== undefined);

  it('in an OIP JSON infer', async () => {
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: { inputs: [{ name: 'features', shape, datatype: 'FP32', data: [1, 2, 3, 4] }] },
    });
    expectRefused(response);
  });

  it('in an OIP binary infer', async () => {
    const header = JSON.stringify({
      inputs: [{ name: 'features', shape, datatype: 'FP32', parameters: { binary_data_size: 16 } }],
    });
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(Buffer.byteLength(header)),
      },
      payload: Buffer.concat([Buffer.from(header), Buffer.alloc(16)]),
    });
    expectRefused(response);
  });

  it('in a /v1 job', async () => {
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v1/models/iris/jobs',
      payload: { inputs: { features: { shape, datatype: 'FP32', data: [1, 2, 3, 4] } } },
    });
    expectRefused(response);
  });

  it('in an SDK input', async () => {
    let code = 'accepted';
    try {
      await producer.client.enqueue('iris', {
        features: { shape, data: new Float32Array(4) },
      });
    } catch (error) {
      code = isConveyorError(error) ? error.code : `untyped: ${String(error)}`;
    }
    expect(code).toMatch(REFUSED);
  });
});
