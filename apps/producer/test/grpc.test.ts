/**
 * The Open Inference Protocol over gRPC against a real worker and Redis, with a client built with
 * @grpc/grpc-js from the same published proto: every RPC, raw and typed contents, errors as status
 * codes with the catalogue code in the details and trailers, API keys, limits, the deadline, and
 * the same outputs as REST on the shipped models.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Client,
  Metadata,
  credentials,
  makeGenericClientConstructor,
  status,
  type ServiceError,
} from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  DTYPE_ARRAYS,
  createLogger,
  encodeStrings,
  type Config,
  type ErrorBody,
} from '@conveyor/shared';
import { irisReference } from '../../../scripts/lib/iris-weights.js';
import { copyCatalogue, dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startWorkerService, type WorkerService } from '../../worker/src/worker-service.js';
import { startGrpcServer, type GrpcServer } from '../src/grpc/server.js';
import { loadInferenceService, type ModelInferResponse } from '../src/grpc/proto.js';
import { runProducer } from '../src/run-producer.js';
// The app's checkBackPressure decorator, declared by the plugin.
import type {} from '../src/plugins/back-pressure.js';
import type { BinaryInferResponse, InferResponse } from '../src/oip/schemas.js';
import { CARRIED, createTestRepository, inputName, outputName } from './dtype-models.js';
import { MODELS, startProducer, testConfig, type TestProducer } from './support.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
/** Prefixes whose catalogue names the models but where no worker runs, so every job waits. */
const idlePrefix = uniquePrefix();
const fullPrefix = uniquePrefix();
const silent = createLogger({ level: 'silent', component: 'producer' });
const SECRET = 'grpc-test-secret-0123456789';
const env = { API_KEYS: `grpc-test:infer:${SECRET}`, GRPC_HOST: '127.0.0.1' };

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

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

const bytesOf = (array: Float32Array | Int32Array | BigInt64Array): Buffer =>
  Buffer.from(array.buffer, array.byteOffset, array.byteLength);

const floats = (bytes: Buffer): number[] =>
  Array.from(
    new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)),
  );

type Unary = (
  request: object,
  metadata: Metadata,
  options: { deadline?: number },
  callback: (error: ServiceError | null, response?: unknown) => void,
) => { on(event: 'metadata', listener: (metadata: Metadata) => void): unknown };

/** `key` null: no authorization metadata at all; default the test key. */
interface CallOptions {
  key?: string | null;
  deadlineMs?: number;
}

/** A client of `inference.GRPCInferenceService` with one promise per call. */
class InferenceClient {
  private readonly client: Client & Record<string, Unary>;

  constructor(port: number, options: Record<string, number> = {}) {
    const Constructor = makeGenericClientConstructor(
      loadInferenceService(),
      'GRPCInferenceService',
    );
    this.client = new Constructor(
      `127.0.0.1:${port}`,
      credentials.createInsecure(),
      options,
    ) as Client & Record<string, Unary>;
  }

  call<T>(
    rpc: string,
    request: object = {},
    { key = SECRET, deadlineMs = 20_000 }: CallOptions = {},
  ): Promise<{ response: T; metadata: Metadata }> {
    const metadata = new Metadata();
    // null: no authorization at all.
    if (key !== null) metadata.set('authorization', `Bearer ${key}`);
    return new Promise((resolve, reject) => {
      let headers = new Metadata();
      const method = this.client[rpc]!.bind(this.client);
      const call = method(
        request,
        metadata,
        { deadline: Date.now() + deadlineMs },
        (error, response) =>
          error ? reject(error) : resolve({ response: response as T, metadata: headers }),
      );
      call.on('metadata', (received) => (headers = received));
    });
  }

  /** The status a call failed with, its JSON details and its trailers. */
  async refusal(rpc: string, request: object = {}, options: CallOptions = {}) {
    const error = await this.call(rpc, request, options).then(
      () => expect.fail(`${rpc} succeeded`),
      (e: ServiceError) => e,
    );
    const code = error.metadata.get('conveyor-error-code')[0];
    let body: ErrorBody | undefined;
    try {
      body = JSON.parse(error.details) as ErrorBody;
    } catch {
      body = undefined;
    }
    return { status: error.code, code, body, error };
  }

  close(): void {
    this.client.close();
  }
}

const irisInput = (rows: number[][] = ROWS) => ({
  name: 'features',
  datatype: 'FP32',
  shape: [rows.length, 4],
});

describe('Open Inference Protocol over gRPC', () => {
  let repository: Awaited<ReturnType<typeof createTestRepository>>;
  let worker: WorkerService;
  let producer: TestProducer;
  let idle: TestProducer;
  let full: TestProducer;
  let config: Config;
  const servers: GrpcServer[] = [];
  const clients: InferenceClient[] = [];
  const redis = new Redis(redisUrl, { lazyConnect: true });
  let grpc: InferenceClient;

  /** A gRPC server over a test producer's client and back-pressure, on a free port. */
  async function serve(over: TestProducer, serverConfig: Config, ping = () => redis.ping()) {
    const server = await startGrpcServer({
      client: over.client,
      config: serverConfig,
      logger: silent,
      checkBackPressure: (model) => over.app.checkBackPressure(model),
      redisPing: async () => (await ping()) === 'PONG',
    });
    servers.push(server);
    const client = new InferenceClient(server.port);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    repository = await createTestRepository();
    const direction = join(repository.path, 'text-direction', '1');
    await mkdir(direction, { recursive: true });
    for (const file of ['model.onnx', 'model.json'])
      await copyFile(join(MODELS, 'text-direction', '1', file), join(direction, file));
    worker = await startWorkerService(
      testConfig(redisUrl, prefix, { MODEL_REPOSITORY: repository.path }),
      silent,
    );
    await redis.connect();
    config = testConfig(redisUrl, prefix, env);
    producer = await startProducer(config);
    grpc = await serve(producer, config);
    await copyCatalogue(redisUrl, prefix, idlePrefix, ['iris@1']);
    idle = await startProducer(testConfig(redisUrl, idlePrefix, env));
    await copyCatalogue(redisUrl, prefix, fullPrefix, ['iris@1']);
    full = await startProducer(testConfig(redisUrl, fullPrefix, { ...env, MAX_QUEUE_DEPTH: '1' }));
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(servers.map((server) => server.close(1000)));
    await full?.close();
    await idle?.close();
    await producer?.close();
    await worker?.close();
    await repository?.remove();
    redis.disconnect();
    for (const p of [prefix, idlePrefix, fullPrefix]) await dropPrefix(redisUrl, p);
  });

  const rest = (url: string, payload?: unknown) =>
    producer.app.inject({
      method: payload === undefined ? 'GET' : 'POST',
      url,
      headers: { authorization: `Bearer ${SECRET}` },
      ...(payload !== undefined && { payload: payload as Record<string, unknown> }),
    });

  describe('health and metadata', () => {
    it('answers ServerLive and ServerReady without an API key', async () => {
      expect((await grpc.call('ServerLive', {}, { key: null })).response).toEqual({
        live: true,
      });
      expect((await grpc.call('ServerReady', {}, { key: null })).response).toEqual({
        ready: true,
      });
    });

    it('answers ServerReady false while Redis does not answer PING', async () => {
      const away = new Redis('redis://127.0.0.1:1', {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
      });
      away.on('error', () => undefined);
      const client = await serve(producer, config, () => away.ping());
      expect((await client.call('ServerReady')).response).toEqual({ ready: false });
      away.disconnect();
    });

    it('answers ServerMetadata as GET /v2 does, with the extensions gRPC serves', async () => {
      const { response } = await grpc.call('ServerMetadata');
      const { name, version } = (await rest('/v2')).json<{ name: string; version: string }>();
      expect(response).toEqual({ name, version, extensions: ['schedule_policy'] });
    });

    it('answers ModelMetadata as GET /v2/models/{name} does', async () => {
      for (const [name, version] of [
        ['iris', ''],
        ['text-direction', '1'],
      ] as const) {
        const { response } = await grpc.call<{
          inputs: { shape: string[] }[];
          outputs: { shape: string[] }[];
        }>('ModelMetadata', { name, version });
        const shapes = (tensors: { shape: string[] }[]) =>
          tensors.map((t) => ({ ...t, shape: t.shape.map(Number) }));
        const url =
          version === '' ? `/v2/models/${name}` : `/v2/models/${name}/versions/${version}`;
        expect({
          ...response,
          inputs: shapes(response.inputs),
          outputs: shapes(response.outputs),
        }).toEqual((await rest(url)).json());
      }
    });

    it('answers ModelReady true while a worker serves the model, false where none does', async () => {
      expect((await grpc.call('ModelReady', { name: 'iris' })).response).toEqual({ ready: true });
      expect((await grpc.call('ModelReady', { name: 'iris', version: '1' })).response).toEqual({
        ready: true,
      });
      const idleClient = await serve(idle, testConfig(redisUrl, idlePrefix, env));
      expect((await idleClient.call('ModelReady', { name: 'iris' })).response).toEqual({
        ready: false,
      });
    });

    it('answers NOT_FOUND with ERR_MODEL_NOT_FOUND for a model no worker announced', async () => {
      for (const rpc of ['ModelReady', 'ModelMetadata']) {
        const refusal = await grpc.refusal(rpc, { name: 'nope' });
        expect({ status: refusal.status, code: refusal.code }).toEqual({
          status: status.NOT_FOUND,
          code: 'ERR_MODEL_NOT_FOUND',
        });
        expect(refusal.body).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', statusCode: 404 });
      }
    });

    it('answers UNIMPLEMENTED for the repository RPCs it does not serve', async () => {
      const refusal = await grpc.refusal('RepositoryModelLoad', { model_name: 'iris' });
      expect(refusal.status).toBe(status.UNIMPLEMENTED);
    });
  });

  describe('ModelInfer', () => {
    it('runs iris from raw_input_contents, with the reference probabilities, the id and the job id', async () => {
      const { response, metadata } = await grpc.call<ModelInferResponse>('ModelInfer', {
        model_name: 'iris',
        id: 'grpc-7',
        inputs: [irisInput()],
        raw_input_contents: [bytesOf(new Float32Array(ROWS.flat()))],
      });
      expect(response).toMatchObject({ model_name: 'iris', model_version: '1', id: 'grpc-7' });
      expect(response.outputs).toEqual([
        {
          name: 'probabilities',
          datatype: 'FP32',
          shape: ['3', '3'],
          parameters: {},
          contents: null,
        },
      ]);
      expect(metadata.get('conveyor-job-id')[0]).toEqual(expect.any(String));
      const expected = irisReference(ROWS).flat();
      floats(response.raw_output_contents[0]!).forEach((p, i) =>
        expect(Math.abs(p - expected[i]!)).toBeLessThan(1e-5),
      );
    });

    it('takes typed contents and parameters, and answers in raw_output_contents all the same', async () => {
      const { response } = await grpc.call<ModelInferResponse>('ModelInfer', {
        model_name: 'iris',
        model_version: '1',
        // Triton's schedule-policy timeout, in µs: 20 s.
        parameters: { timeout: { int64_param: 20_000_000 } },
        inputs: [{ ...irisInput(), contents: { fp32_contents: ROWS.flat() } }],
        outputs: [{ name: 'probabilities' }],
      });
      expect(response.id).toBe('');
      const expected = irisReference(ROWS).flat();
      floats(response.raw_output_contents[0]!).forEach((p, i) =>
        expect(Math.abs(p - expected[i]!)).toBeLessThan(1e-5),
      );
    });

    it('carries every datatype raw both ways, BYTES as 4-byte-length-prefixed elements', async () => {
      const text = ['', 'hello', 'héllo wörld', '日本語', '😀 emoji', 'quote " back'];
      // Six elements of each datatype: 0 to 5 (true and false for BOOL, 1.0 in FP16's bits).
      const raw = CARRIED.map(({ dtype }) => {
        if (dtype === 'string') return encodeStrings(text);
        const array = new DTYPE_ARRAYS[dtype](6);
        for (let i = 0; i < 6; i++) {
          const value = dtype === 'bool' ? i % 2 : dtype === 'float16' ? 0x3c00 + i : i;
          array[i] = dtype === 'int64' || dtype === 'uint64' ? BigInt(value) : value;
        }
        return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
      });
      const { response } = await grpc.call<ModelInferResponse>('ModelInfer', {
        model_name: 'echo',
        inputs: CARRIED.map((c) => ({
          name: inputName(c.datatype),
          datatype: c.datatype,
          shape: [2, 3],
        })),
        outputs: CARRIED.map((c) => ({ name: outputName(c.datatype) })),
        raw_input_contents: raw,
      });
      expect(response.outputs.map((o) => [o.name, o.datatype, o.shape.map(Number)])).toEqual(
        CARRIED.map((c) => [outputName(c.datatype), c.datatype, [2, 3]]),
      );
      expect(response.raw_output_contents).toEqual(raw);
    });

    it('gives the same outputs as REST, byte for byte, on iris and text-direction', async () => {
      const line = syntheticLine();
      const cases = [
        { model: 'iris', input: irisInput(), data: new Float32Array(ROWS.flat()) },
        {
          model: 'text-direction',
          input: { name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192] },
          data: line,
        },
      ];
      for (const { model, input, data } of cases) {
        const json = (
          await rest(`/v2/models/${model}/infer`, {
            inputs: [{ ...input, data: Array.from(data) }],
          })
        ).json<InferResponse>();
        const binary = await rest(`/v2/models/${model}/infer`, {
          parameters: { binary_data_output: true },
          inputs: [{ ...input, data: Array.from(data) }],
        });
        const length = Number(binary.headers['inference-header-content-length']);
        const header = JSON.parse(
          binary.rawPayload.subarray(0, length).toString(),
        ) as BinaryInferResponse;
        const { response } = await grpc.call<ModelInferResponse>('ModelInfer', {
          model_name: model,
          inputs: [input],
          raw_input_contents: [bytesOf(data)],
        });
        expect(response.outputs.map((o) => [o.name, o.datatype, o.shape.map(Number)])).toEqual(
          header.outputs.map((o) => [o.name, o.datatype, o.shape]),
        );
        expect(Buffer.concat(response.raw_output_contents)).toEqual(
          binary.rawPayload.subarray(length),
        );
        expect(floats(response.raw_output_contents[0]!)).toEqual(json.outputs[0]!.data);
      }
    });
  });

  describe('errors as gRPC statuses with the catalogue code', () => {
    const cases: [string, object, status, string][] = [
      [
        'an unknown model',
        {
          model_name: 'nope',
          inputs: [{ ...irisInput(), contents: { fp32_contents: ROWS.flat() } }],
        },
        status.NOT_FOUND,
        'ERR_MODEL_NOT_FOUND',
      ],
      [
        'the wrong shape',
        {
          model_name: 'iris',
          inputs: [
            {
              name: 'features',
              datatype: 'FP32',
              shape: [1, 3],
              contents: { fp32_contents: [1, 2, 3] },
            },
          ],
        },
        status.INVALID_ARGUMENT,
        'ERR_INPUT_SHAPE',
      ],
      [
        'the wrong datatype',
        {
          model_name: 'iris',
          inputs: [
            {
              name: 'features',
              datatype: 'INT32',
              shape: [1, 4],
              contents: { int_contents: [1, 2, 3, 4] },
            },
          ],
        },
        status.INVALID_ARGUMENT,
        'ERR_INPUT_DTYPE',
      ],
      [
        'a datatype the protocol does not name',
        { model_name: 'iris', inputs: [{ name: 'features', datatype: 'FLOAT', shape: [1, 4] }] },
        status.INVALID_ARGUMENT,
        'ERR_VALIDATION',
      ],
      [
        'contents in the field of another datatype',
        {
          model_name: 'iris',
          inputs: [{ ...irisInput([[1, 2, 3, 4]]), contents: { int_contents: [1, 2, 3, 4] } }],
        },
        status.INVALID_ARGUMENT,
        'ERR_TENSOR_INVALID',
      ],
      [
        'raw contents that do not fill the shape',
        {
          model_name: 'iris',
          inputs: [irisInput()],
          raw_input_contents: [bytesOf(new Float32Array(4))],
        },
        status.INVALID_ARGUMENT,
        'ERR_TENSOR_INVALID',
      ],
      [
        'fewer raw blocks than inputs',
        {
          model_name: 'iris',
          inputs: [irisInput(), { ...irisInput(), name: 'more' }],
          raw_input_contents: [Buffer.alloc(48)],
        },
        status.INVALID_ARGUMENT,
        'ERR_TENSOR_INVALID',
      ],
      [
        'an output the model does not have',
        {
          model_name: 'iris',
          inputs: [{ ...irisInput(), contents: { fp32_contents: ROWS.flat() } }],
          outputs: [{ name: 'nope' }],
        },
        status.INVALID_ARGUMENT,
        'ERR_OUTPUT_UNKNOWN',
      ],
    ];
    it.each(cases)('refuses %s', async (_name, request, expected, code) => {
      const refusal = await grpc.refusal('ModelInfer', request);
      expect({ status: refusal.status, code: refusal.code }).toEqual({ status: expected, code });
      expect(refusal.body?.code).toBe(code);
      expect(refusal.body?.message).toMatch(/./);
    });
  });

  describe('API keys', () => {
    const request = {
      model_name: 'iris',
      inputs: [{ ...irisInput(), contents: { fp32_contents: ROWS.flat() } }],
    };

    it('refuses a call without a key, or with a wrong one, with UNAUTHENTICATED', async () => {
      for (const key of [null, 'not-the-secret-0123456789']) {
        for (const rpc of ['ModelInfer', 'ModelMetadata', 'ServerMetadata']) {
          const refusal = await grpc.refusal(
            rpc,
            rpc === 'ModelInfer' ? request : { name: 'iris' },
            {
              key,
            },
          );
          expect({ status: refusal.status, code: refusal.code }).toEqual({
            status: status.UNAUTHENTICATED,
            code: 'ERR_UNAUTHORIZED',
          });
        }
      }
    });

    it('runs a call with the right key', async () => {
      const { response } = await grpc.call<ModelInferResponse>('ModelInfer', request);
      expect(response.outputs).toHaveLength(1);
    });
  });

  describe('limits', () => {
    it('refuses a message over MAX_BODY_BYTES, and a tensor over MAX_TENSOR_BYTES, with RESOURCE_EXHAUSTED', async () => {
      const small = await serve(
        producer,
        testConfig(redisUrl, prefix, { ...env, MAX_BODY_BYTES: '4096', MAX_TENSOR_BYTES: '1024' }),
      );
      const rows = Array.from({ length: 300 }, () => [1, 2, 3, 4]);
      const tooLarge = await small.refusal('ModelInfer', {
        model_name: 'iris',
        inputs: [irisInput(rows)],
        raw_input_contents: [bytesOf(new Float32Array(rows.flat()))],
      });
      expect(tooLarge.status).toBe(status.RESOURCE_EXHAUSTED);
      const tensor = await small.refusal('ModelInfer', {
        model_name: 'iris',
        inputs: [irisInput(rows.slice(0, 100))],
        raw_input_contents: [bytesOf(new Float32Array(rows.slice(0, 100).flat()))],
      });
      expect({ status: tensor.status, code: tensor.code }).toEqual({
        status: status.RESOURCE_EXHAUSTED,
        code: 'ERR_TENSOR_TOO_LARGE',
      });
    });

    it('refuses a call to a full queue with RESOURCE_EXHAUSTED, ERR_QUEUE_FULL and retry-after', async () => {
      const client = await serve(
        full,
        testConfig(redisUrl, fullPrefix, { ...env, MAX_QUEUE_DEPTH: '1' }),
      );
      await full.client.enqueue('iris', { features: { data: ROWS.flat(), shape: [3, 4] } });
      const refusal = await client.refusal('ModelInfer', {
        model_name: 'iris',
        inputs: [{ ...irisInput(), contents: { fp32_contents: ROWS.flat() } }],
      });
      expect({ status: refusal.status, code: refusal.code }).toEqual({
        status: status.RESOURCE_EXHAUSTED,
        code: 'ERR_QUEUE_FULL',
      });
      expect(Number(refusal.error.metadata.get('retry-after')[0])).toBeGreaterThanOrEqual(1);
    });

    it('waits for the result until the call deadline, then DEADLINE_EXCEEDED with the job id', async () => {
      const client = await serve(idle, testConfig(redisUrl, idlePrefix, env));
      const request = {
        model_name: 'iris',
        inputs: [{ ...irisInput(), contents: { fp32_contents: ROWS.flat() } }],
      };
      // The deadline, with no other timeout, is the wait.
      const byDeadline = await client.refusal('ModelInfer', request, { deadlineMs: 3000 });
      expect({ status: byDeadline.status, code: byDeadline.code }).toEqual({
        status: status.DEADLINE_EXCEEDED,
        code: 'ERR_JOB_TIMEOUT',
      });
      expect(byDeadline.body?.job_id).toEqual(expect.any(String));
      expect(byDeadline.error.metadata.get('conveyor-job-id')).toEqual([byDeadline.body?.job_id]);
      // parameters.timeout may shorten it.
      const byTimeout = await client.refusal(
        'ModelInfer',
        { ...request, parameters: { timeout: { int64_param: 200_000 } } },
        { deadlineMs: 20_000 },
      );
      expect(byTimeout.code).toBe('ERR_JOB_TIMEOUT');
    });
  });

  it('starts and stops with the producer when GRPC_PORT is set', async () => {
    const run = runProducer(
      testConfig(redisUrl, prefix, {
        ...env,
        PRODUCER_HOST: '127.0.0.1',
        PRODUCER_PORT: '0',
        GRPC_PORT: '0',
        SHUTDOWN_TIMEOUT_MS: '2000',
      }),
      silent,
    );
    await run.started;
    expect(run.grpcPort).toEqual(expect.any(Number));
    const client = new InferenceClient(run.grpcPort!);
    try {
      expect((await client.call('ServerLive')).response).toEqual({ live: true });
      const { response } = await client.call<ModelInferResponse>('ModelInfer', {
        model_name: 'iris',
        inputs: [{ ...irisInput(), contents: { fp32_contents: ROWS.flat() } }],
      });
      expect(response.model_name).toBe('iris');
      // Counted with REST's requests in the Triton statistics of the same producer.
      const app = await run.started;
      const stats = await app.inject({
        url: '/v2/models/iris/stats',
        headers: { authorization: `Bearer ${SECRET}` },
      });
      expect(stats.json<{ model_stats: { inference_count: number }[] }>().model_stats).toEqual([
        expect.objectContaining({ inference_count: 1 }),
      ]);
      await run.stop();
      const after = await client.refusal('ServerLive', {}, { deadlineMs: 2000 });
      expect(after.status).toBe(status.UNAVAILABLE);
    } finally {
      client.close();
      await run.stop();
    }
  });
});
