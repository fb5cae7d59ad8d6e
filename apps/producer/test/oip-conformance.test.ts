/**
 * Our own Open Inference Protocol (v2) REST conformance suite: every endpoint, every datatype
 * Conveyor carries (through an Identity model per datatype, generated here), the binary tensor
 * data extension both ways, Prefer, and the error statuses, against a real worker and Redis.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DTYPE_ARRAYS, createLogger, encodeStrings, type ErrorCode } from '@conveyor/shared';
import { copyCatalogue, dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { buildApp } from '../src/app.js';
import type {
  BinaryInferResponse,
  ErrorBody,
  InferOutput,
  InferResponse,
  OipDatatype,
} from '../src/oip/schemas.js';
import { CARRIED, WIDTH, createTestRepository, inputName, outputName } from './dtype-models.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
/** A prefix whose catalogue names the models but where no worker runs, so every job waits. */
const idlePrefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'worker' });
const SECRET = 'conformance-secret-0123456789';
const env = { API_KEYS: `conformance:infer:${SECRET}` };
const auth = { authorization: `Bearer ${SECRET}` };

/** Two rows of each datatype, with the edge values of its range, as JSON sends them. */
const VALUES: Record<OipDatatype, unknown[]> = {
  BOOL: [true, false, true, false, false, true],
  UINT8: [0, 1, 127, 128, 254, 255],
  UINT16: [0, 1, 65535, 300, 4096, 7],
  UINT32: [0, 1, 4294967295, 65536, 7, 123456789],
  UINT64: [0, 1, '18446744073709551615', '9007199254740993', 5, 2 ** 53 - 1],
  INT8: [-128, -1, 0, 1, 127, 5],
  INT16: [-32768, -1, 0, 1, 32767, 5],
  INT32: [-2147483648, -1, 0, 1, 2147483647, 5],
  INT64: ['-9223372036854775808', -1, 0, 1, '9223372036854775807', 5],
  FP16: [0, 1, -2, 0.5, 65504, 'Infinity'],
  FP32: [0, 1.5, -2.25, 'NaN', 'Infinity', '-Infinity'],
  FP64: [0, 0.1, -1e300, 'NaN', 5e-324, 'Infinity'],
  // Empty, accented, CJK, astral (emoji) and JSON-escaped text.
  BYTES: ['', 'hello', 'héllo wörld', '日本語', '😀 emoji', 'quote " back \\ new\nline'],
};
const ROWS = 2;

const jsonInputs = () =>
  CARRIED.map((c) => ({
    name: inputName(c.datatype),
    shape: [ROWS, WIDTH],
    datatype: c.datatype,
    data: VALUES[c.datatype],
  }));

/** The little-endian bytes of a datatype's values, as a binary client sends them. */
function bytesOf(datatype: OipDatatype): Buffer {
  const { dtype } = CARRIED.find((c) => c.datatype === datatype)!;
  if (dtype === 'string') return encodeStrings(VALUES[datatype] as string[]);
  const half: Record<string, number> = {
    0: 0,
    1: 0x3c00,
    [-2]: 0xc000,
    0.5: 0x3800,
    65504: 0x7bff,
  };
  const values = VALUES[datatype].map((v) => {
    if (dtype === 'float16') return v === 'Infinity' ? 0x7c00 : half[String(v)]!;
    if (dtype === 'int64' || dtype === 'uint64') return BigInt(v as string | number);
    if (typeof v === 'string') return Number(v);
    return v === true ? 1 : v === false ? 0 : (v as number);
  });
  const array = new DTYPE_ARRAYS[dtype](values.length);
  values.forEach((v, i) => (array[i] = v as never));
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** A body of the binary extension: the JSON header, then each block. */
function binaryBody(header: unknown, blocks: Buffer[]): { payload: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header));
  return { payload: Buffer.concat([json, ...blocks]), headerLength: json.length };
}

/** Splits a binary response into its JSON header and each binary output's bytes. */
function readBinaryResponse(response: { rawPayload: Buffer; headers: Record<string, unknown> }): {
  header: BinaryInferResponse;
  blocks: Map<string, Buffer>;
} {
  const length = Number(response.headers['inference-header-content-length']);
  const header = JSON.parse(
    response.rawPayload.subarray(0, length).toString(),
  ) as BinaryInferResponse;
  const blocks = new Map<string, Buffer>();
  let offset = length;
  for (const output of header.outputs) {
    if (!('parameters' in output)) continue;
    const size = output.parameters.binary_data_size;
    blocks.set(output.name, response.rawPayload.subarray(offset, offset + size));
    offset += size;
  }
  expect(offset).toBe(response.rawPayload.length);
  return { header, blocks };
}

/** JSON output data as the protocol writes it: 64-bit integers past 2^53 as strings. */
const expectedJson = (datatype: OipDatatype): unknown[] =>
  VALUES[datatype].map((v) => {
    if (datatype === 'INT64' || datatype === 'UINT64') {
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : String(v);
    }
    return v;
  });

describe('Open Inference Protocol v2 conformance', () => {
  let repository: Awaited<ReturnType<typeof createTestRepository>>;
  let worker: WorkerService;
  let producer: TestProducer;
  let idle: TestProducer;

  beforeAll(async () => {
    repository = await createTestRepository();
    const workerConfig = testConfig(redisUrl, prefix, { MODEL_REPOSITORY: repository.path });
    worker = await startWorkerService(workerConfig, silent);
    producer = await startProducer(testConfig(redisUrl, prefix, env));
    await copyCatalogue(redisUrl, prefix, idlePrefix);
    idle = await startProducer(testConfig(redisUrl, idlePrefix, env));
  }, 60_000);

  afterAll(async () => {
    await idle?.close();
    await producer?.close();
    await worker?.close();
    await repository?.remove();
    await dropPrefix(redisUrl, prefix);
    await dropPrefix(redisUrl, idlePrefix);
  });

  const get = (url: string, app = producer.app) =>
    app.inject({ method: 'GET', url, headers: auth });
  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    producer.app.inject({
      method: 'POST',
      url,
      payload: payload as Record<string, unknown>,
      headers: { ...auth, ...headers },
    });
  const expectError = (
    response: { statusCode: number; json: <T>() => T },
    status: number,
    code: ErrorCode,
  ) => {
    const body = response.json<ErrorBody>();
    expect({ status: response.statusCode, code: body.code }).toEqual({ status, code });
    expect(body).toMatchObject({ statusCode: status, error: body.message });
    return body;
  };

  describe('metadata', () => {
    it('answers GET /v2 with the server name, version and exactly the extensions implemented', async () => {
      const response = await get('/v2');
      expect(response.statusCode).toBe(200);
      const body = response.json<{ name: string; version: string; extensions: string[] }>();
      expect(body.name).toBe('conveyor');
      expect(body.version).toMatch(/^[0-9]+\.[0-9]+\.[0-9]+/);
      expect(body.extensions).toEqual([
        'binary_tensor_data',
        'model_configuration',
        'schedule_policy',
        'statistics',
      ]);
    });

    it('answers model metadata with versions, platform and the tensors in protocol datatypes', async () => {
      const response = await get('/v2/models/iris');
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        name: 'iris',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
      });
      const echo = (await get('/v2/models/echo/versions/1')).json<{
        inputs: { name: string; datatype: string }[];
      }>();
      expect(echo.inputs.map((i) => [i.name, i.datatype])).toEqual(
        CARRIED.map((c) => [inputName(c.datatype), c.datatype]),
      );
    });

    it('says a model is ready while a worker serves it, on both routes', async () => {
      for (const url of ['/v2/models/iris/ready', '/v2/models/iris/versions/1/ready']) {
        const response = await get(url);
        expect(response.statusCode).toBe(200);
        expect(response.json()).toEqual({ name: 'iris', ready: true });
      }
    });

    it('answers 400 ready=false for a model announced but served by no running worker', async () => {
      const response = await get('/v2/models/iris/ready', idle.app);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ name: 'iris', ready: false });
    });

    const missing: [string, ErrorCode][] = [
      ['/v2/models/nope', 'ERR_MODEL_NOT_FOUND'],
      ['/v2/models/nope/ready', 'ERR_MODEL_NOT_FOUND'],
      ['/v2/models/iris/versions/9', 'ERR_MODEL_VERSION_NOT_FOUND'],
      ['/v2/models/iris/versions/9/ready', 'ERR_MODEL_VERSION_NOT_FOUND'],
    ];
    it.each(missing)('answers GET %s with 404 %s', async (url, code) => {
      expectError(await get(url), 404, code);
    });

    it('refuses a model name that is not valid with 400 on the metadata routes', async () => {
      expectError(await get('/v2/models/Iris!'), 400, 'ERR_VALIDATION');
      expectError(await get('/v2/models/Iris!/ready'), 400, 'ERR_VALIDATION');
    });
  });

  describe('datatypes', () => {
    it('returns every carried datatype unchanged through JSON', async () => {
      const response = await post('/v2/models/echo/infer', { inputs: jsonInputs() });
      expect(response.statusCode).toBe(200);
      const outputs = new Map(
        response.json<InferResponse>().outputs.map((o): [string, InferOutput] => [o.name, o]),
      );
      for (const { datatype } of CARRIED) {
        expect({ datatype, output: outputs.get(outputName(datatype)) }).toEqual({
          datatype,
          output: {
            name: outputName(datatype),
            datatype,
            shape: [ROWS, WIDTH],
            data: expectedJson(datatype),
          },
        });
      }
    });

    it('rounds FP16 JSON numbers to the nearest half-precision value', async () => {
      const inputs = jsonInputs().map((input) =>
        input.datatype === 'FP16'
          ? { ...input, data: [0.1, 1 / 3, 65504, -1e-5, 2049, 6e-8] }
          : input,
      );
      const response = await post('/v2/models/echo/infer', {
        inputs,
        outputs: [{ name: 'out_fp16' }],
      });
      expect(response.statusCode).toBe(200);
      expect(response.json<InferResponse>().outputs[0]!.data).toEqual([
        0.0999755859375, 0.333251953125, 65504, -0.000010013580322265625, 2048,
        5.960464477539063e-8,
      ]);
    });

    it('refuses a number past a float datatype, not rounding it to Infinity', async () => {
      for (const [datatype, big] of [
        ['FP16', 70_000],
        ['FP32', 1e39],
      ] as const) {
        const inputs = jsonInputs().map((input) =>
          input.datatype === datatype
            ? { ...input, data: input.data.map((_, i) => (i === 1 ? big : 1)) }
            : input,
        );
        const response = await post('/v2/models/echo/infer', { inputs });
        expect(response.statusCode).toBe(400);
        expect(response.json<ErrorBody>().code).toBe('ERR_INPUT_VALUE');
      }
    });

    it('returns every carried datatype byte for byte through the binary extension', async () => {
      const header = {
        inputs: CARRIED.map((c) => ({
          name: inputName(c.datatype),
          shape: [ROWS, WIDTH],
          datatype: c.datatype,
          parameters: { binary_data_size: bytesOf(c.datatype).length },
        })),
        parameters: { binary_data_output: true },
      };
      const { payload, headerLength } = binaryBody(
        header,
        CARRIED.map((c) => bytesOf(c.datatype)),
      );
      const response = await post('/v2/models/echo/infer', payload, {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(headerLength),
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('application/octet-stream');
      const { header: json, blocks } = readBinaryResponse(response);
      expect(json.model_name).toBe('echo');
      for (const { datatype } of CARRIED) {
        const output = json.outputs.find((o) => o.name === outputName(datatype));
        expect({ datatype, output }).toEqual({
          datatype,
          output: {
            name: outputName(datatype),
            datatype,
            shape: [ROWS, WIDTH],
            parameters: { binary_data_size: bytesOf(datatype).length },
          },
        });
        expect({ datatype, bytes: blocks.get(outputName(datatype)) }).toEqual({
          datatype,
          bytes: bytesOf(datatype),
        });
      }
    });

    it('refuses BYTES data that is not text, and BYTES for a numeric input, naming the tensor', async () => {
      const notText = expectError(
        await post('/v2/models/echo/infer', {
          inputs: [{ name: 'in_bytes', shape: [1, WIDTH], datatype: 'BYTES', data: ['a', 2, 'c'] }],
        }),
        400,
        'ERR_TENSOR_INVALID',
      );
      expect(notText.message).toContain('"in_bytes"');
      const numeric = expectError(
        await post('/v2/models/iris/infer', {
          inputs: [
            { name: 'features', shape: [1, 4], datatype: 'BYTES', data: ['1', '2', '3', '4'] },
          ],
        }),
        400,
        'ERR_INPUT_DTYPE',
      );
      expect(numeric.message).toContain('"features"');
    });
  });

  describe('binary tensor data extension', () => {
    const fp32 = Buffer.from(new Float32Array([5.1, 3.5, 1.4, 0.2]).buffer);
    const irisHeader = (extra: Record<string, unknown> = {}) => ({
      inputs: [
        {
          name: 'features',
          shape: [1, 4],
          datatype: 'FP32',
          parameters: { binary_data_size: 16 },
        },
      ],
      ...extra,
    });

    it('reads a binary request without a content type, as Triton clients send it, and answers JSON', async () => {
      const { payload, headerLength } = binaryBody(irisHeader({ id: 'bin-1' }), [fp32]);
      const response = await post('/v2/models/iris/infer', payload, {
        'inference-header-content-length': String(headerLength),
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers['inference-header-content-length']).toBeUndefined();
      const body = response.json<InferResponse>();
      expect(body.id).toBe('bin-1');
      expect(body.outputs[0]!.data).toHaveLength(3);
    });

    it('mixes binary and JSON outputs as each output asks, in the requested order', async () => {
      const inputs = jsonInputs();
      const response = await post('/v2/models/echo/infer', {
        inputs,
        parameters: { binary_data_output: true },
        outputs: [
          { name: 'out_int64', parameters: { binary_data: false } },
          { name: 'out_fp32' },
          { name: 'out_uint8', parameters: { binary_data: true } },
        ],
      });
      expect(response.statusCode).toBe(200);
      const { header, blocks } = readBinaryResponse(response);
      expect(header.outputs.map((o) => o.name)).toEqual(['out_int64', 'out_fp32', 'out_uint8']);
      expect(header.outputs[0]).toEqual({
        name: 'out_int64',
        datatype: 'INT64',
        shape: [ROWS, WIDTH],
        data: expectedJson('INT64'),
      });
      expect(blocks.get('out_fp32')).toEqual(bytesOf('FP32'));
      expect(blocks.get('out_uint8')).toEqual(bytesOf('UINT8'));
    });

    it('reads a binary request sent as application/json with the header', async () => {
      const { payload, headerLength } = binaryBody(irisHeader(), [fp32]);
      const response = await post('/v2/models/iris/infer', payload, {
        'content-type': 'application/json',
        'inference-header-content-length': String(headerLength),
      });
      expect(response.statusCode).toBe(200);
    });

    const refused: [string, () => ReturnType<typeof binaryBody>, number, ErrorCode][] = [
      [
        'a binary_data_size that does not match the shape',
        () =>
          binaryBody(
            { inputs: [{ ...irisHeader().inputs[0], parameters: { binary_data_size: 12 } }] },
            [fp32.subarray(0, 12)],
          ),
        400,
        'ERR_TENSOR_INVALID',
      ],
      [
        'binary bytes left after the last input',
        () => binaryBody(irisHeader(), [fp32, Buffer.alloc(4)]),
        400,
        'ERR_TENSOR_INVALID',
      ],
      [
        'fewer binary bytes than binary_data_size',
        () => binaryBody(irisHeader(), [fp32.subarray(0, 8)]),
        400,
        'ERR_TENSOR_INVALID',
      ],
      [
        'an input with both data and binary_data_size',
        () =>
          binaryBody({ inputs: [{ ...irisHeader().inputs[0], data: [5.1, 3.5, 1.4, 0.2] }] }, [
            fp32,
          ]),
        400,
        'ERR_VALIDATION',
      ],
    ];
    it.each(refused)('refuses %s', async (_name, build, status, code) => {
      const { payload, headerLength } = build();
      expectError(
        await post('/v2/models/iris/infer', payload, {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(headerLength),
        }),
        status,
        code,
      );
    });

    it('refuses a header length beyond the body with 400 ERR_VALIDATION', async () => {
      const { payload } = binaryBody(irisHeader(), [fp32]);
      expectError(
        await post('/v2/models/iris/infer', payload, {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(payload.length + 1),
        }),
        400,
        'ERR_VALIDATION',
      );
    });

    it('refuses an octet-stream body without Inference-Header-Content-Length with 415', async () => {
      expectError(
        await post('/v2/models/iris/infer', fp32, { 'content-type': 'application/octet-stream' }),
        415,
        'ERR_UNSUPPORTED_MEDIA_TYPE',
      );
    });
  });

  describe('requests', () => {
    const iris = (extra: Record<string, unknown> = {}) => ({
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
      ...extra,
    });

    it('echoes the request id and accepts protocol parameters it does not use', async () => {
      const response = await post(
        '/v2/models/iris/infer',
        iris({ id: 'req-42', parameters: { priority: 3, tag: 'x' } }),
      );
      expect(response.statusCode).toBe(200);
      expect(response.json<InferResponse>().id).toBe('req-42');
    });

    it('answers Prefer: respond-async with 202, Location and the job id, and the job runs', async () => {
      const response = await post('/v2/models/iris/infer', iris(), { prefer: 'respond-async' });
      expect(response.statusCode).toBe(202);
      const body = response.json<{ job_id: string; status_url: string }>();
      expect(response.headers.location).toBe(`/v1/jobs/${body.job_id}`);
      expect(body.status_url).toBe(response.headers.location);
      expect(response.headers['conveyor-job-id']).toBe(body.job_id);
      expect(response.headers['preference-applied']).toBe('respond-async');
      const result = await producer.client.job(body.job_id).result({ timeoutMs: 20_000 });
      expect(result.outputs.probabilities!.shape).toEqual([1, 3]);
    });

    it('answers within Prefer: wait with the result when the job finishes in time', async () => {
      const response = await post('/v2/models/iris/infer', iris(), { prefer: 'wait=20' });
      expect(response.statusCode).toBe(200);
      expect(response.json<InferResponse>().outputs).toHaveLength(1);
    });

    it('answers 202 when Prefer: wait runs out before the job finishes', async () => {
      const response = await idle.app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload: iris(),
        headers: { ...auth, prefer: 'respond-async, wait=1' },
      });
      expect(response.statusCode).toBe(202);
      const body = response.json<{ job_id: string }>();
      expect(response.headers['preference-applied']).toBe('wait=1');
      expect((await idle.client.job(body.job_id).status()).state).toBe('waiting');
    });

    it('answers 504 ERR_JOB_TIMEOUT with the job id when no worker takes the job in time', async () => {
      const response = await idle.app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload: iris({ parameters: { timeout: 200_000 } }),
        headers: auth,
      });
      const body = expectError(response, 504, 'ERR_JOB_TIMEOUT');
      expect(body.job_id).toEqual(expect.any(String));
    });

    const refused: [string, string, unknown, number, ErrorCode, string][] = [
      [
        'a wrong shape',
        '/v2/models/iris/infer',
        { inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] },
        400,
        'ERR_INPUT_SHAPE',
        '"features"',
      ],
      [
        'a wrong datatype',
        '/v2/models/iris/infer',
        { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }] },
        400,
        'ERR_INPUT_DTYPE',
        'float32',
      ],
      [
        'a wrong input name',
        '/v2/models/iris/infer',
        {
          inputs: [
            { name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
            { name: 'petals', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] },
          ],
        },
        400,
        'ERR_INPUT_UNEXPECTED',
        '"petals"',
      ],
      [
        'an unknown output',
        '/v2/models/iris/infer',
        iris({ outputs: [{ name: 'logits' }] }),
        400,
        'ERR_OUTPUT_UNKNOWN',
        'logits',
      ],
      ['an unknown model', '/v2/models/nope/infer', iris(), 404, 'ERR_MODEL_NOT_FOUND', 'nope'],
      [
        'an unknown version',
        '/v2/models/iris/versions/9/infer',
        iris(),
        404,
        'ERR_MODEL_VERSION_NOT_FOUND',
        '9',
      ],
      [
        'a tensor over MAX_TENSOR_BYTES',
        '/v2/models/iris/infer',
        { inputs: [{ name: 'features', shape: [1e6, 1e6], datatype: 'FP32', data: [1] }] },
        413,
        'ERR_TENSOR_TOO_LARGE',
        '"features"',
      ],
    ];
    it.each(refused)('refuses %s', async (_name, url, payload, status, code, named) => {
      const body = expectError(await post(url, payload), status, code);
      expect(body.message).toContain(named);
    });

    it('refuses a content type it does not read with 415', async () => {
      expectError(
        await post('/v2/models/iris/infer', 'features=1', { 'content-type': 'text/plain' }),
        415,
        'ERR_UNSUPPORTED_MEDIA_TYPE',
      );
    });

    it('refuses a request without an API key with 401 and WWW-Authenticate', async () => {
      const response = await producer.app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload: iris(),
      });
      expectError(response, 401, 'ERR_UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    });

    it('refuses a body over MAX_BODY_BYTES with 413 ERR_PAYLOAD_TOO_LARGE', async () => {
      const small = buildApp(testConfig(redisUrl, prefix, { ...env, MAX_BODY_BYTES: '1024' }), {
        client: producer.client,
        redisPing: () => Promise.resolve(true),
        logger: silent,
      });
      try {
        const data = Array.from({ length: 400 }, () => 5.1);
        const response = await small.inject({
          method: 'POST',
          url: '/v2/models/iris/infer',
          payload: { inputs: [{ name: 'features', shape: [100, 4], datatype: 'FP32', data }] },
          headers: auth,
        });
        expectError(response, 413, 'ERR_PAYLOAD_TOO_LARGE');
      } finally {
        await small.close();
      }
    });
  });
});
