import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, toNumbers, toTensors, type ErrorCode } from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { copyCatalogue, dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { buildApp } from '../src/app.js';
import type { ErrorBody, InferResponse } from '../src/oip/schemas.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
/** A prefix whose catalogue names iris but where no worker runs, so every job waits. */
const idlePrefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

const irisBody = (overrides: Record<string, unknown> = {}) => ({
  inputs: [{ name: 'features', shape: [3, 4], datatype: 'FP32', data: ROWS.flat() }],
  ...overrides,
});

/** A deterministic 48x192 RGB "text line", normalised as PP-OCR expects. */
function syntheticLine(): Float32Array {
  const data = new Float32Array(3 * 48 * 192);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < 48; y++)
      for (let x = 0; x < 192; x++)
        data[c * 48 * 192 + y * 192 + x] =
          y > 12 && y < 36 && (x * 7 + y * 3) % 23 < 6 ? -0.9 : 0.9;
  return data;
}

describe('POST /v2/models/:name/infer through Redis and a real worker', () => {
  let worker: WorkerService;
  let producer: TestProducer;
  let idle: TestProducer;

  beforeAll(async () => {
    const config = testConfig(redisUrl, prefix);
    worker = await startWorkerService(config, silent);
    producer = await startProducer(config);
    // Announce iris on the idle prefix by hand, with the signature the real worker wrote.
    await copyCatalogue(redisUrl, prefix, idlePrefix, ['iris@1']);
    idle = await startProducer(testConfig(redisUrl, idlePrefix));
  }, 60_000);

  afterAll(async () => {
    await idle?.close();
    await producer?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
    await dropPrefix(redisUrl, idlePrefix);
  });

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    producer.app.inject({
      method: 'POST',
      url,
      payload: payload as Record<string, unknown>,
      headers,
    });

  it('returns iris probabilities equal to the TypeScript reference within 1e-5, with the job id', async () => {
    const response = await post('/v2/models/iris/infer', irisBody({ id: 'request-7' }));
    expect(response.statusCode).toBe(200);
    const body = response.json<InferResponse>();
    expect(body).toMatchObject({ model_name: 'iris', model_version: '1', id: 'request-7' });
    expect(response.headers['conveyor-job-id']).toEqual(expect.any(String));
    expect(body.outputs).toHaveLength(1);
    const [output] = body.outputs;
    expect(output).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [3, 3] });
    const expected = irisReference(ROWS).flat();
    expect(output!.data).toHaveLength(expected.length);
    output!.data.forEach((p, i) =>
      expect(Math.abs((p as number) - expected[i]!)).toBeLessThan(1e-5),
    );
  });

  it('accepts nested data and an explicit version, and gives no id when the request has none', async () => {
    const response = await post('/v2/models/iris/versions/1/infer', {
      inputs: [{ name: 'features', shape: [3, 4], datatype: 'FP32', data: ROWS }],
      outputs: [{ name: 'probabilities' }],
    });
    expect(response.statusCode).toBe(200);
    const body = response.json<InferResponse>();
    expect(body).not.toHaveProperty('id');
    expect(response.headers['conveyor-job-id']).toEqual(expect.any(String));
    const expected = irisReference(ROWS).flat();
    body.outputs[0]!.data.forEach((p, i) =>
      expect(Math.abs((p as number) - expected[i]!)).toBeLessThan(1e-5),
    );
  });

  it('runs text-direction with the same outputs as the engine in-process', async () => {
    const line = syntheticLine();
    const response = await post('/v2/models/text-direction/infer', {
      inputs: [{ name: 'x', shape: [1, 3, 48, 192], datatype: 'FP32', data: Array.from(line) }],
    });
    expect(response.statusCode).toBe(200);
    const [output] = response.json<InferResponse>().outputs;
    expect(output).toMatchObject({ name: 'softmax_0.tmp_0', datatype: 'FP32', shape: [1, 2] });
    const local = await worker.engine.predict({
      model: 'text-direction',
      inputs: toTensors({ x: { data: line, shape: [1, 3, 48, 192] } }),
    });
    const expected = toNumbers(local.outputs['softmax_0.tmp_0']!);
    output!.data.forEach((p, i) =>
      expect(Math.abs((p as number) - expected[i]!)).toBeLessThan(1e-5),
    );
  });

  describe('refuses bad requests with the code and status of the catalogue', () => {
    const features = (shape: number[], data: unknown, datatype = 'FP32') => ({
      inputs: [{ name: 'features', shape, datatype, data }],
    });
    const cases: [string, string, unknown, number, ErrorCode][] = [
      [
        'the wrong shape',
        '/v2/models/iris/infer',
        features([1, 3], [1, 2, 3]),
        400,
        'ERR_INPUT_SHAPE',
      ],
      [
        'the wrong datatype',
        '/v2/models/iris/infer',
        features([1, 4], [1, 2, 3, 4], 'INT32'),
        400,
        'ERR_INPUT_DTYPE',
      ],
      [
        'an unknown datatype',
        '/v2/models/iris/infer',
        features([1, 4], [1, 2, 3, 4], 'FLOAT'),
        400,
        'ERR_VALIDATION',
      ],
      [
        'FP16 for an FP32 input',
        '/v2/models/iris/infer',
        features([1, 4], [1, 2, 3, 4], 'FP16'),
        400,
        'ERR_INPUT_DTYPE',
      ],
      [
        'BYTES for an FP32 input',
        '/v2/models/iris/infer',
        features([1, 4], ['a', 'b', 'c', 'd'], 'BYTES'),
        400,
        'ERR_INPUT_DTYPE',
      ],
      [
        'data that does not fill the shape',
        '/v2/models/iris/infer',
        features([2, 4], [1, 2, 3, 4]),
        400,
        'ERR_TENSOR_INVALID',
      ],
      [
        'nested data that disagrees with the shape',
        '/v2/models/iris/infer',
        features([4, 1], [[1, 2, 3, 4]]),
        400,
        'ERR_TENSOR_INVALID',
      ],
      [
        'a string among FP32 data',
        '/v2/models/iris/infer',
        features([1, 4], [1, 2, '3', 4]),
        400,
        'ERR_TENSOR_INVALID',
      ],
      [
        'a shape of terabytes',
        '/v2/models/iris/infer',
        features([1e6, 1e6], [1]),
        413,
        'ERR_TENSOR_TOO_LARGE',
      ],
      [
        'an input the model does not take',
        '/v2/models/iris/infer',
        { inputs: [...irisBody().inputs, { name: 'x', shape: [1], datatype: 'FP32', data: [1] }] },
        400,
        'ERR_INPUT_UNEXPECTED',
      ],
      ['no inputs', '/v2/models/iris/infer', { inputs: [] }, 400, 'ERR_VALIDATION'],
      [
        'an unknown field',
        '/v2/models/iris/infer',
        irisBody({ colour: 'red' }),
        400,
        'ERR_VALIDATION',
      ],
      [
        'an unknown output',
        '/v2/models/iris/infer',
        irisBody({ outputs: [{ name: 'logits' }] }),
        400,
        'ERR_OUTPUT_UNKNOWN',
      ],
      [
        'an unknown model',
        '/v2/models/no-such-model/infer',
        irisBody(),
        404,
        'ERR_MODEL_NOT_FOUND',
      ],
      [
        'an unknown version',
        '/v2/models/iris/versions/7/infer',
        irisBody(),
        404,
        'ERR_MODEL_VERSION_NOT_FOUND',
      ],
      ['an invalid model name', '/v2/models/Iris!/infer', irisBody(), 400, 'ERR_VALIDATION'],
    ];
    it.each(cases)('refuses %s', async (_name, url, payload, status, code) => {
      const response = await post(url, payload);
      const body = response.json<ErrorBody>();
      expect(response.statusCode).toBe(status);
      expect(body).toMatchObject({ code, statusCode: status, error: body.message });
    });

    it('names the input whose shape is wrong', async () => {
      const body = (
        await post('/v2/models/iris/infer', features([1, 3], [1, 2, 3]))
      ).json<ErrorBody>();
      expect(body.code).toBe('ERR_INPUT_SHAPE');
      expect(body.message).toContain('"features"');
    });

    it('lists the path of an unknown datatype among the issues', async () => {
      const body = (
        await post('/v2/models/iris/infer', features([1, 4], [1, 2, 3, 4], 'FLOAT'))
      ).json<ErrorBody>();
      expect(body.issues).toEqual([expect.objectContaining({ path: 'body.inputs.0.datatype' })]);
    });

    it('refuses malformed JSON with 400 ERR_VALIDATION', async () => {
      const response = await post('/v2/models/iris/infer', '{"inputs": [', {
        'content-type': 'application/json',
      });
      expect(response.statusCode).toBe(400);
      expect(response.json<ErrorBody>()).toMatchObject({ code: 'ERR_VALIDATION', statusCode: 400 });
    });

    it('refuses a timeout header that is not a whole number of milliseconds', async () => {
      const response = await post('/v2/models/iris/infer', irisBody(), {
        'conveyor-timeout-ms': 'soon',
      });
      expect(response.statusCode).toBe(400);
      expect(response.json<ErrorBody>().issues).toEqual([
        expect.objectContaining({ path: 'headers.conveyor-timeout-ms' }),
      ]);
    });

    it('refuses a body over MAX_BODY_BYTES with 413 ERR_PAYLOAD_TOO_LARGE', async () => {
      const small = buildApp(testConfig(redisUrl, prefix, { MAX_BODY_BYTES: '1024' }), {
        client: producer.client,
        redisPing: () => Promise.resolve(true),
        logger: silent,
      });
      try {
        const data = Array.from({ length: 400 }, () => 5.1);
        const response = await small.inject({
          method: 'POST',
          url: '/v2/models/iris/infer',
          payload: features([100, 4], data),
        });
        expect(response.statusCode).toBe(413);
        expect(response.json<ErrorBody>()).toMatchObject({
          code: 'ERR_PAYLOAD_TOO_LARGE',
          statusCode: 413,
        });
      } finally {
        await small.close();
      }
    });
  });

  describe('when no worker takes the job in time', () => {
    const expectTimeout = async (response: Awaited<ReturnType<typeof post>>) => {
      expect(response.statusCode).toBe(504);
      const body = response.json<ErrorBody>();
      expect(body).toMatchObject({ code: 'ERR_JOB_TIMEOUT', statusCode: 504 });
      expect(body.job_id).toEqual(expect.any(String));
      expect(response.headers['conveyor-job-id']).toBe(body.job_id);
      // The job is still on the queue, so its result can be fetched later by that id.
      const status = await idle.client.job(body.job_id!).status();
      expect(status.state).toBe('waiting');
    };

    it('answers 504 ERR_JOB_TIMEOUT with the job id after parameters.timeout (µs)', async () => {
      const response = await idle.app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload: irisBody({ parameters: { timeout: 200_000 } }),
      });
      await expectTimeout(response);
    });

    it('answers 504 ERR_JOB_TIMEOUT with the job id after the Conveyor-Timeout-Ms header', async () => {
      const response = await idle.app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload: irisBody(),
        headers: { 'conveyor-timeout-ms': '200' },
      });
      await expectTimeout(response);
    });
  });
});
