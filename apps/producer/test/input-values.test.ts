import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, isConveyorError } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import type { ErrorBody } from '../src/oip/schemas.js';
import { startJobsProducer } from './jobs-support.js';
import { testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
const ROW = [5.1, 3.5, 1.4, 0.2];

/** The code of a rejected promise (ConveyorError), or 'resolved'. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isConveyorError(error) ? error.code : `untyped: ${String(error)}`;
  }
}

describe('input values out of their dtype range, and outputs asked for twice', () => {
  let worker: WorkerService;
  let producer: TestProducer;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix);
    worker = await startWorkerService(config, silent);
    producer = await startJobsProducer(config);
  }, 60_000);

  afterAll(async () => {
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  const post = async (url: string, payload: Record<string, unknown>) => {
    const response = await producer.app.inject({ method: 'POST', url, payload });
    return { status: response.statusCode, body: response.json<ErrorBody>() };
  };
  const v2 = (datatype: string, data: unknown[], extra: Record<string, unknown> = {}) =>
    post('/v2/models/iris/infer', {
      inputs: [{ name: 'features', shape: [1, 4], datatype, data }],
      ...extra,
    });

  it('/v2: refuses 1e39 as FP32 and 300 as INT8 with 400 ERR_INPUT_VALUE', async () => {
    for (const [datatype, data] of [
      ['FP32', [5.1, 1e39, 1.4, 0.2]],
      ['FP32', [[5.1, 3.5, -1e39, 0.2]]],
      ['FP16', [5.1, 3.5, 1.4, 70_000]],
      ['INT8', [1, 2, 3, 300]],
    ] as const) {
      const { status, body } = await v2(datatype, [...data]);
      expect({ datatype, status, code: body.code }).toEqual({
        datatype,
        status: 400,
        code: 'ERR_INPUT_VALUE',
      });
    }
    // The largest finite FP32 is a value like any other.
    expect((await v2('FP32', [3.4028234663852886e38, 3.5, 1.4, 0.2])).status).toBe(200);
  });

  it('/v1: refuses 1e39 in a protocol tensor and in nested arrays with ERR_INPUT_VALUE', async () => {
    for (const features of [
      { shape: [1, 4], datatype: 'FP32', data: [5.1, 1e39, 1.4, 0.2] },
      [[5.1, 1e39, 1.4, 0.2]],
    ]) {
      const { status, body } = await post('/v1/models/iris/jobs', { inputs: { features } });
      expect({ status, code: body.code }).toEqual({ status: 400, code: 'ERR_INPUT_VALUE' });
    }
    // A literal past every float parses to Infinity: refused too, though JSON.stringify cannot
    // write it (the body is written by hand).
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v1/models/iris/jobs',
      headers: { 'content-type': 'application/json' },
      payload: '{"inputs":{"features":[[5.1,1e400,1.4,0.2]]}}',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json<ErrorBody>().code).toBe('ERR_INPUT_VALUE');
  });

  it('the SDK: refuses 1e39 for a float32 input with ERR_INPUT_VALUE', async () => {
    const client = producer.client;
    expect(await codeOf(client.predict('iris', { features: [[5.1, 1e39, 1.4, 0.2]] }))).toBe(
      'ERR_INPUT_VALUE',
    );
    expect(
      await codeOf(
        client.predict('iris', { features: { data: [5.1, 3.5, 1.4, 1e39], dtype: 'float32' } }),
      ),
    ).toBe('ERR_INPUT_VALUE');
  });

  it('refuses the same output asked for twice, on /v2, /v1 and in the SDK', async () => {
    const twice = [{ name: 'probabilities' }, { name: 'probabilities' }];
    const infer = await v2('FP32', ROW, { outputs: twice });
    expect({ status: infer.status, code: infer.body.code }).toEqual({
      status: 400,
      code: 'ERR_VALIDATION',
    });
    const job = await post('/v1/models/iris/jobs', {
      inputs: { features: [ROW] },
      parameters: { outputs: ['probabilities', 'probabilities'] },
    });
    expect({ status: job.status, code: job.body.code }).toEqual({
      status: 400,
      code: 'ERR_VALIDATION',
    });
    const options = { outputs: ['probabilities', 'probabilities'] };
    expect(await codeOf(producer.client.predict('iris', { features: [ROW] }, options))).toBe(
      'ERR_VALIDATION',
    );
    // Once each is fine.
    expect((await v2('FP32', ROW, { outputs: twice.slice(1) })).status).toBe(200);
  });
});
