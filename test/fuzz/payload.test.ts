import { readFileSync } from 'node:fs';
import { Queue, type Job } from 'bullmq';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import {
  ERROR_CATALOGUE,
  isErrorCode,
  newJobId,
  queueName,
  toNumbers,
  type ErrorCode,
  queuePrefix,
} from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';

/**
 * Raw job payloads placed straight on a model's queue, as anyone with Redis access could: a real
 * worker process must fail each bad one alone with a typed `CODE: message` failedReason, never
 * crash, never allocate what a forged shape asks for, and keep completing the good jobs that are
 * interleaved with them.
 */

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const RUNS = 150;
const SEED = 7_2026;
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];

let worker: WorkerProcess;
let client: ConveyorClient;
let queue: Queue;
let expected: number[];

/** Peak resident set of a process, in bytes (Linux /proc). */
const peakRss = (pid: number): number => {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? Number.NaN) * 1024;
};

beforeAll(async () => {
  worker = await spawnWorker(redisUrl, prefix, { MODELS: 'iris', JOB_ATTEMPTS: '1' });
  client = await createClient({ redisUrl, prefix });
  queue = new Queue(queueName('iris', '1'), {
    connection: { url: redisUrl },
    prefix: queuePrefix(prefix, queueName('iris', '1')),
    skipMetasUpdate: true,
  });
  const first = await client.predict('iris', { features: ROWS });
  expected = toNumbers(first.outputs.probabilities!);
}, 60_000);

afterAll(async () => {
  await queue?.close();
  await client?.close();
  await worker?.stop();
  await dropPrefix(redisUrl, prefix);
});

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const goodFeatures = () => ({
  dtype: 'float32',
  shape: [2, 4],
  data: b64(new Uint8Array(new Float32Array(ROWS.flat()).buffer)),
});

const dimArb = fc.oneof(
  fc.integer({ min: -2, max: 8 }),
  fc.constantFrom(1e6, 2 ** 31, 2 ** 32, 2 ** 53, 1.5, Number.MAX_SAFE_INTEGER),
);

const tensorArb = fc.record(
  {
    dtype: fc.constantFrom('float32', 'float64', 'int64', 'bool', 'float16', 'string', 'FP32'),
    shape: fc.oneof(
      fc.array(dimArb, { maxLength: 17 }),
      fc.constantFrom([1e6, 1e6], [2 ** 31, 2 ** 31], [2 ** 16, 2 ** 16, 2 ** 16], [0, 4]),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    data: fc.oneof(
      fc.uint8Array({ maxLength: 48 }).map(b64),
      fc.constantFrom('not base64!', '====', '', 'AAAA'.repeat(3)),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    blob: fc.constantFrom(true, false),
  },
  { requiredKeys: ['dtype', 'shape'] },
);

const payloadArb = fc.oneof(
  // Near-valid payloads with one or more fields fuzzed.
  fc.record(
    {
      v: fc.oneof(fc.constant(1), fc.constantFrom(0, 2, '1', null)),
      model: fc.oneof(
        fc.constant('iris'),
        fc.constantFrom('text-direction', '../iris', 'IRIS', '\u0131ris', ''),
        fc.string(),
      ),
      version: fc.oneof(fc.constantFrom('1', '2', '../1', '%2e%2e', ''), fc.string()),
      inputs: fc.oneof(
        fc.dictionary(
          fc.oneof(fc.constant('features'), fc.string({ unit: 'grapheme' })),
          tensorArb,
          {
            maxKeys: 3,
          },
        ),
        fc.record({ features: tensorArb }),
        fc.jsonValue({ maxDepth: 3 }),
      ),
      outputs: fc.oneof(fc.array(fc.string(), { maxLength: 3 }), fc.constant(['probabilities'])),
      deadline: fc.oneof(fc.integer(), fc.constant(1), fc.double()),
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: ['v', 'model', 'inputs'] },
  ),
  // Anything at all.
  fc.jsonValue({ maxDepth: 5 }),
  // Deep nesting.
  fc.integer({ min: 50, max: 2000 }).map((depth) => {
    let nested: unknown = 1;
    for (let i = 0; i < depth; i++) nested = [nested];
    return {
      v: 1,
      model: 'iris',
      inputs: { features: { dtype: 'float32', shape: nested, data: '' } },
    };
  }),
);

/** Waits until every job has finished (completed or failed), polling its state. */
async function settle(ids: readonly string[], timeoutMs: number): Promise<Map<string, Job>> {
  const done = new Map<string, Job>();
  const until = Date.now() + timeoutMs;
  while (done.size < ids.length && Date.now() < until) {
    for (const id of ids) {
      if (done.has(id)) continue;
      const job = await queue.getJob(id);
      if (job && (job.finishedOn !== undefined || job.failedReason)) done.set(id, job);
    }
    if (done.size < ids.length) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return done;
}

describe('fuzzed job payloads on the queue', () => {
  it('fails each bad job alone with a typed reason while interleaved good jobs complete', async () => {
    const payloads = fc.sample(payloadArb, { numRuns: RUNS, seed: SEED });
    const fuzzed: string[] = [];
    const good: Promise<number[]>[] = [];
    for (const [i, data] of payloads.entries()) {
      const id = newJobId('iris', '1');
      fuzzed.push(id);
      await queue.add('predict', data, { jobId: id, attempts: 1 });
      if (i % 10 === 0) {
        good.push(
          client
            .predict('iris', { features: ROWS })
            .then((prediction) => toNumbers(prediction.outputs.probabilities!)),
        );
      }
    }
    // A good job sent the way the SDK writes it, by hand, among the bad ones.
    const handMade = newJobId('iris', '1');
    await queue.add(
      'predict',
      { v: 1, model: 'iris', inputs: { features: goodFeatures() } },
      { jobId: handMade },
    );

    for (const probabilities of await Promise.all(good)) {
      expect(probabilities).toEqual(expected);
    }
    const finished = await settle([...fuzzed, handMade], 60_000);
    expect(finished.size).toBe(fuzzed.length + 1);
    expect(finished.get(handMade)?.failedReason).toBeFalsy();
    let failed = 0;
    for (const id of fuzzed) {
      const job = finished.get(id)!;
      if (!job.failedReason) {
        // A fuzzed payload that is good after all gets a whole result: iris's probabilities.
        expect(job.returnvalue, JSON.stringify(job.data).slice(0, 200)).toMatchObject({
          model: 'iris',
          version: '1',
          outputs: { probabilities: { dtype: 'float32' } },
        });
        continue;
      }
      failed++;
      const code = /^([A-Z_]+): /.exec(job.failedReason)?.[1];
      const what = `${job.failedReason} for ${JSON.stringify(job.data).slice(0, 200)}`;
      // A refusal of a bad payload: a typed code of the caller's fault (a 4xx in the catalogue),
      // never ERR_INTERNAL, ERR_INFERENCE_FAILED or another server-side failure.
      expect(isErrorCode(code), what).toBe(true);
      expect(code, what).not.toBe('ERR_INTERNAL');
      if (isErrorCode(code)) expect(ERROR_CATALOGUE[code].status, what).toBeLessThan(500);
      expect(ERROR_CATALOGUE[code as ErrorCode]?.status, what).toBeGreaterThanOrEqual(400);
    }
    expect(failed).toBeGreaterThan(RUNS / 2);
    expect(worker.child.exitCode).toBeNull();
  }, 120_000);

  it('refuses forged gigantic shapes before allocating them', async () => {
    const pid = worker.child.pid!;
    const before = peakRss(pid);
    const shapes = [
      [1e6, 1e6],
      [2 ** 31, 2 ** 31],
      [2 ** 16, 2 ** 16, 2 ** 16],
      [2 ** 40, 4],
      [0, 2 ** 53],
    ];
    const ids: string[] = [];
    for (const shape of shapes) {
      for (const form of ['inline', 'blob'] as const) {
        const id = newJobId('iris', '1');
        ids.push(id);
        const features =
          form === 'inline'
            ? { dtype: 'float32', shape, data: b64(new Uint8Array(16)) }
            : { dtype: 'float32', shape, blob: true };
        await queue.add(
          'predict',
          { v: 1, model: 'iris', inputs: { features } },
          { jobId: id, attempts: 1 },
        );
      }
    }
    const finished = await settle(ids, 30_000);
    for (const id of ids) {
      const reason = finished.get(id)?.failedReason ?? '';
      expect(reason).toMatch(
        /^ERR_(TENSOR_TOO_LARGE|TENSOR_INVALID|INPUT_SHAPE|PAYLOAD_INVALID): /,
      );
    }
    // A good job still runs, and the worker's peak memory grew by far less than one such tensor.
    const probabilities = toNumbers(
      (await client.predict('iris', { features: ROWS })).outputs.probabilities!,
    );
    expect(probabilities).toEqual(expected);
    expect(peakRss(pid) - before).toBeLessThan(256 * 1024 * 1024);
    expect(worker.child.exitCode).toBeNull();
  }, 60_000);
});
