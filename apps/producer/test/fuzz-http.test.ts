import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ERROR_CATALOGUE, isErrorCode } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { startInProcessWorker } from '../../../test/support/workers.js';
import type { WorkerService } from '../../worker/src/worker-service.js';
import type { InferResponse } from '../src/oip/schemas.js';
import { startProducer, testConfig, type TestProducer } from './support.js';

/**
 * Property-based fuzzing of every HTTP route with a real SDK client, a real worker and the real
 * models: whatever arrives, the answer is a 2xx or a typed 4xx whose `code` is in the catalogue
 * with the status the catalogue gives it; never a 5xx, never a crash, and good requests sent in
 * between still get the right answer.
 */

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const RUNS = 150;
const SEED = 7_2025;

const ROWS = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];
const goodBody = { inputs: [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: ROWS }] };

let producer: TestProducer;
let worker: WorkerService;
let expected: unknown;

beforeAll(async () => {
  const config = testConfig(redisUrl, prefix, {
    RATE_LIMIT_MAX: '0',
    PREDICT_TIMEOUT_MS: '10000',
    MAX_BODY_BYTES: String(1024 * 1024),
    MAX_TENSOR_BYTES: String(4 * 1024 * 1024),
    BATCH_MAX_ITEMS: '64',
  });
  worker = await startInProcessWorker(redisUrl, prefix, {
    MAX_TENSOR_BYTES: String(4 * 1024 * 1024),
  });
  producer = await startProducer(config);
  const first = await producer.app.inject({
    method: 'POST',
    url: '/v2/models/iris/infer',
    payload: goodBody,
  });
  expect(first.statusCode).toBe(200);
  expected = first.json<InferResponse>().outputs;
}, 60_000);

afterAll(async () => {
  await producer?.close();
  await worker?.close();
  await dropPrefix(redisUrl, prefix);
});

interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

/** A success's body is what its content type says: JSON that parses to an object or array. */
function expectWellFormed(response: Answer, what: string): void {
  const header = response.headers['content-type'];
  const type = typeof header === 'string' ? header : '';
  if (type.includes('application/json')) {
    const body = JSON.parse(response.body) as unknown;
    expect(typeof body, `${what}: ${response.body.slice(0, 300)}`).toBe('object');
    expect(body, what).not.toBeNull();
  }
  const length = response.headers['inference-header-content-length'];
  if (length !== undefined) {
    expect(type, what).toContain('application/octet-stream');
    expect(Number.isSafeInteger(Number(length)) && Number(length) > 0, what).toBe(true);
  }
}

/**
 * The invariant of every answer: one of the route's success statuses (`ok`) with a well-formed
 * body, or a typed refusal: a 4xx whose body carries a catalogue code of that very status, never
 * ERR_INTERNAL (a 5xx or an untyped 4xx fails).
 */
function expectTyped(response: Answer, what: string, ok: readonly number[] = [200]): void {
  const where = `${what}: ${response.statusCode} ${response.body.slice(0, 300)}`;
  if (response.statusCode < 400) {
    expect(ok, where).toContain(response.statusCode);
    expectWellFormed(response, where);
    return;
  }
  expect(response.statusCode, where).toBeLessThan(500);
  const body = JSON.parse(response.body) as {
    code?: unknown;
    statusCode?: unknown;
    message?: unknown;
  };
  expect(isErrorCode(body.code), where).toBe(true);
  expect(body.code, where).not.toBe('ERR_INTERNAL');
  if (isErrorCode(body.code)) {
    expect(response.statusCode, where).toBe(ERROR_CATALOGUE[body.code].status);
    expect(body.statusCode, where).toBe(response.statusCode);
  }
  expect(typeof body.message === 'string' && body.message.length > 0, where).toBe(true);
}

let sent = 0;
/** Every 10th fuzz case, a good infer: it must still get the same answer. */
async function goodStillWorks(): Promise<void> {
  if (++sent % 10 !== 0) return;
  const response = await producer.app.inject({
    method: 'POST',
    url: '/v2/models/iris/infer',
    payload: goodBody,
  });
  expect(response.statusCode).toBe(200);
  expect(response.json<InferResponse>().outputs).toEqual(expected);
}

/** Names as an attacker or a confused client might spell them. */
const nameArb = fc.oneof(
  fc.constantFrom(
    'iris',
    'IRIS',
    'iris ',
    '..',
    '../iris',
    '../../etc/passwd',
    '%2e%2e%2f',
    '%2e%2e',
    '..%2f..%2fetc',
    '/etc/passwd',
    'C:\\Windows',
    'iris\u0000',
    'ir\u0131s', // dotless i
    '\u2024\u2024\u2215', // one dot leader, two dots, division slash
    '\uff0e\uff0e\uff0f', // full-width ../
    'text-direction',
    'a'.repeat(300),
  ),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** A path segment: percent-encoded, or raw when it is already URL-safe text. */
const segment = (name: string): string =>
  /^[A-Za-z0-9._%-]+$/.test(name) ? name : encodeURIComponent(name);

const dimArb = fc.oneof(
  fc.integer({ min: -3, max: 6 }),
  fc.constantFrom(1e6, 2 ** 31, 2 ** 32, 2 ** 53, Number.MAX_SAFE_INTEGER, -1, 0, 1.5, 1e308),
);

const numberArb = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(1e308, -1e308, 5e-324),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.constant(null),
);

const tensorArb = fc.record(
  {
    name: fc.oneof(fc.constant('features'), fc.constant('x'), nameArb),
    shape: fc.oneof(fc.array(dimArb, { maxLength: 9 }), fc.constant('1,4'), fc.constant(null)),
    datatype: fc.constantFrom(
      'FP32',
      'FP16',
      'FP64',
      'INT64',
      'INT8',
      'UINT8',
      'BOOL',
      'BYTES',
      'fp32',
      'X',
    ),
    data: fc.oneof(
      fc.array(numberArb, { maxLength: 12 }),
      fc.array(fc.array(numberArb, { maxLength: 5 }), { maxLength: 4 }),
      fc.constant(ROWS.slice(0, 4)),
      fc.string(),
      fc.constant({}),
    ),
    parameters: fc.oneof(
      fc.constant({}),
      fc.record({ binary_data_size: fc.oneof(fc.integer(), fc.constant(2 ** 40)) }),
      fc.record({ content_type: fc.string() }),
    ),
  },
  { requiredKeys: ['name', 'shape', 'datatype'] },
);

/** Infer bodies: shaped like the protocol, or any JSON at all. */
const inferBodyArb = fc.oneof(
  fc.record(
    {
      id: fc.string(),
      inputs: fc.oneof(fc.array(tensorArb, { maxLength: 3 }), fc.jsonValue({ maxDepth: 3 })),
      outputs: fc.array(
        fc.record({
          name: fc.oneof(fc.constant('probabilities'), fc.string()),
          parameters: fc.object(),
        }),
        { maxLength: 2 },
      ),
      parameters: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    },
    { requiredKeys: ['inputs'] },
  ),
  fc.jsonValue({ maxDepth: 6 }),
);

/** Raw bodies that are not valid JSON, or JSON that JSON.stringify cannot write. */
const rawBodyArb = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '',
    '{',
    '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[NaN,1,2,3]}]}',
    '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[Infinity,1,2,3]}]}',
    '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1e999,-1e999,1,2]}]}',
    '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"__proto__":{"x":1}}',
    '{"inputs":[],"constructor":{"prototype":{"polluted":true}}}',
    '\u0000\u0001',
    '['.repeat(5000) + ']'.repeat(5000),
    `{"inputs":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    `{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":${'['.repeat(2000)}1${']'.repeat(2000)}}]}`,
  ),
  fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
);

const contentTypeArb = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/octet-stream',
  'application/x-ndjson',
  'multipart/form-data; boundary=x',
  '',
);

describe('fuzz: OIP v2 routes', () => {
  it('infer answers every JSON body with a 2xx or a typed 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(nameArb, fc.option(nameArb), inferBodyArb, async (name, version, body) => {
        const url =
          version === null
            ? `/v2/models/${segment(name)}/infer`
            : `/v2/models/${segment(name)}/versions/${segment(version)}/infer`;
        const response = await producer.app.inject({
          method: 'POST',
          url,
          payload: body as object,
        });
        expectTyped(response, `POST ${url}`);
        await goodStillWorks();
      }),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 60_000 },
    );
  }, 90_000);

  it('infer answers raw bodies of every content type with a typed 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(rawBodyArb, contentTypeArb, async (body, type) => {
        const response = await producer.app.inject({
          method: 'POST',
          url: '/v2/models/iris/infer',
          headers: type === '' ? {} : { 'content-type': type },
          payload: body,
        });
        expectTyped(response, `raw ${type}: ${body.slice(0, 80)}`);
        await goodStillWorks();
      }),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 60_000 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  }, 90_000);

  it('the binary extension answers any header length and bytes with a 2xx or a typed 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(tensorArb, fc.constant({ name: 'features', shape: [2, 4], datatype: 'FP32' })),
        fc.oneof(
          fc.integer({ min: -10, max: 400 }),
          fc.constantFrom('abc', '1e3', '', '-0', '99999999999'),
        ),
        fc.uint8Array({ maxLength: 64 }),
        fc.nat({ max: 64 }),
        async (tensor, headerLength, bytes, size) => {
          const header = JSON.stringify({
            inputs: [{ ...tensor, parameters: { binary_data_size: size } }],
          });
          const payload = Buffer.concat([Buffer.from(header), bytes]);
          const response = await producer.app.inject({
            method: 'POST',
            url: '/v2/models/iris/infer',
            headers: {
              'content-type': 'application/octet-stream',
              'inference-header-content-length':
                typeof headerLength === 'number' && headerLength === 0
                  ? String(Buffer.byteLength(header))
                  : String(headerLength),
            },
            payload,
          });
          expectTyped(response, `binary ${header.slice(0, 120)}`);
          await goodStillWorks();
        },
      ),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 60_000 },
    );
  }, 90_000);

  it('metadata routes answer any name with a 2xx or a typed 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(nameArb, fc.option(nameArb), async (name, version) => {
        const url =
          version === null
            ? `/v2/models/${segment(name)}`
            : `/v2/models/${segment(name)}/versions/${segment(version)}`;
        const response = await producer.app.inject({ method: 'GET', url });
        expectTyped(response, `GET ${url}`);
        // A model outside the repository is never found, however its name is spelled.
        if (name !== 'iris' && name !== 'text-direction') expect(response.statusCode).not.toBe(200);
      }),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 30_000 },
    );
  }, 60_000);
});

describe('fuzz: /v1 jobs and batches', () => {
  const jobsBodyArb = fc.oneof(
    fc.record(
      {
        inputs: fc.oneof(
          fc.dictionary(fc.oneof(fc.constant('features'), fc.string()), tensorArb, { maxKeys: 2 }),
          fc.jsonValue({ maxDepth: 3 }),
        ),
        parameters: fc.record(
          {
            priority: fc.oneof(fc.integer(), fc.double(), fc.string()),
            deadline: fc.oneof(fc.integer(), fc.string(), fc.constant('2000-01-01T00:00:00Z')),
            outputs: fc.array(fc.string(), { maxLength: 2 }),
            version: nameArb,
            callback_url: fc.oneof(fc.webUrl(), fc.string()),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 4 }),
  );

  it('job submission answers every body with a 2xx or a typed 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        nameArb,
        jobsBodyArb,
        fc.option(fc.string({ maxLength: 300 })),
        async (name, body, idempotency) => {
          const url = `/v1/models/${segment(name)}/jobs`;
          const response = await producer.app.inject({
            method: 'POST',
            url,
            headers:
              idempotency === null ? {} : { 'idempotency-key': encodeURIComponent(idempotency) },
            payload: body as object,
          });
          expectTyped(response, `POST ${url}`, [200, 202]);
          await goodStillWorks();
        },
      ),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 60_000 },
    );
  }, 90_000);

  it('batches (JSON and NDJSON) answer every body with a 2xx or a typed 4xx', async () => {
    const itemArb = fc.oneof(
      fc.record({ inputs: fc.dictionary(fc.constant('features'), tensorArb, { maxKeys: 1 }) }),
      fc.jsonValue({ maxDepth: 3 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(itemArb, { maxLength: 6 }),
        fc.option(fc.string({ maxLength: 40 })),
        fc.dictionary(
          fc.constantFrom('priority', 'deadline', 'outputs', 'version', 'bogus'),
          fc.string(),
          {
            maxKeys: 2,
          },
        ),
        async (ndjson, items, garbageLine, query) => {
          const qs = new URLSearchParams(query).toString();
          const url = `/v1/models/iris/jobs:batch${ndjson && qs ? `?${qs}` : ''}`;
          const response = ndjson
            ? await producer.app.inject({
                method: 'POST',
                url,
                headers: { 'content-type': 'application/x-ndjson' },
                payload: [
                  ...items.map((i) => JSON.stringify(i)),
                  ...(garbageLine === null ? [] : [garbageLine]),
                ].join('\n'),
              })
            : await producer.app.inject({ method: 'POST', url, payload: { items } });
          expectTyped(response, `batch ndjson=${ndjson}`, [200, 202]);
          await goodStillWorks();
        },
      ),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 60_000 },
    );
  }, 90_000);

  it('job and batch reads answer any id with a typed 4xx', async () => {
    const idArb = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.constantFrom(
        '../../etc/passwd',
        'iris~',
        'iris~00000000-0000-0000-0000-000000000000',
        'b-',
        'b-%2e%2e',
      ),
      nameArb.map((n) => `${n}~${n}`),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          ['GET', '/v1/jobs/'],
          ['GET', '/v1/jobs/:/result'],
          ['DELETE', '/v1/jobs/'],
          ['GET', '/v1/batches/'],
          ['GET', '/v1/batches/:/results'],
        ),
        idArb,
        async ([method, template], id) => {
          const path = template.includes(':')
            ? template.replace(':', encodeURIComponent(id))
            : `${template}${encodeURIComponent(id)}`;
          const response = await producer.app.inject({
            method,
            url: path,
          });
          expectTyped(response, `${method} ${path}`);
          expect(response.statusCode).toBeGreaterThanOrEqual(400);
        },
      ),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 30_000 },
    );
  }, 60_000);
});

describe('fuzz: health, docs and unknown routes', () => {
  it('answers any method and path with a 2xx or a typed 4xx', async () => {
    const pathArb = fc.oneof(
      fc.constantFrom(
        '/v2/health/live',
        '/v2/health/ready',
        '/docs',
        '/docs/json',
        '/docs/../v2',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/v2/models/%2e%2e%2fmodels%2firis/infer',
        '/dashboard/../../v2',
        '//v2',
      ),
      fc.webPath(),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
        pathArb,
        async (method, url) => {
          const response = await producer.app.inject({
            method: method as 'GET',
            url: url === '' ? '/' : url,
          });
          // bull-board (the dashboard) answers unknown paths under it with its page.
          if (method !== 'HEAD' && response.body !== '' && response.statusCode >= 400)
            expectTyped(response, `${method} ${url}`, [200, 204]);
          else expect(response.statusCode).toBeLessThan(500);
        },
      ),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: 30_000 },
    );
  }, 60_000);

  it('refuses an oversized body with 413 ERR_PAYLOAD_TOO_LARGE, and still serves', async () => {
    const big = JSON.stringify({
      inputs: [
        { name: 'features', shape: [1, 4], datatype: 'FP32', data: new Array(600_000).fill(1) },
      ],
    });
    const response = await producer.app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: { 'content-type': 'application/json' },
      payload: big,
    });
    expect(response.statusCode).toBe(413);
    expect(response.json<{ code: string }>().code).toBe('ERR_PAYLOAD_TOO_LARGE');
    sent = 9;
    await goodStillWorks();
  });
});
