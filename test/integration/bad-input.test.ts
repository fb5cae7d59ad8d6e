import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import {
  encodeTensor,
  newJobId,
  queueName,
  toTensor,
  type ErrorCode,
  queuePrefix,
} from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const goodRow = [[5.1, 3.5, 1.4, 0.2]];
const wire = (name: string, value: unknown) => encodeTensor(toTensor(name, value));

describe('bad input', () => {
  let worker: Awaited<ReturnType<typeof startInProcessWorker>>;
  let client: ConveyorClient;
  let queue: Queue;

  beforeAll(async () => {
    worker = await startInProcessWorker(redisUrl, prefix);
    client = await createClient({ redisUrl, prefix, attempts: 3, backoffMs: 10 });
    queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
  }, 60_000);

  afterAll(async () => {
    await queue?.close();
    await client?.close();
    await worker?.close();
    await dropPrefix(redisUrl, prefix);
  });

  describe('from the SDK, refused before anything is enqueued', () => {
    const cases: [string, () => Promise<unknown>, ErrorCode][] = [
      [
        'an invalid model name',
        () => client.predict('../etc/passwd', { features: goodRow }),
        'ERR_VALIDATION',
      ],
      [
        'an unknown option',
        () => client.predict('iris', { features: goodRow }, { colour: 'red' } as never),
        'ERR_VALIDATION',
      ],
      ['no inputs', () => client.predict('iris', {}), 'ERR_VALIDATION'],
      [
        'an input that is not an array or tensor',
        () => client.predict('iris', { features: 'five' as never }),
        'ERR_VALIDATION',
      ],
      [
        'a ragged nested array',
        () =>
          client.predict('iris', {
            features: [
              [1, 2, 3, 4],
              [1, 2],
            ],
          }),
        'ERR_TENSOR_INVALID',
      ],
      [
        'a typed array whose shape does not fit its length',
        () => client.predict('iris', { features: { data: new Float32Array(5), shape: [1, 4] } }),
        'ERR_TENSOR_INVALID',
      ],
      [
        'a shape that would allocate terabytes',
        () =>
          client.predict('iris', { features: { data: new Float32Array(4), shape: [1e6, 1e6] } }),
        'ERR_TENSOR_TOO_LARGE',
      ],
      [
        'a model no worker serves',
        () => client.predict('no-such-model', { features: goodRow }),
        'ERR_MODEL_NOT_FOUND',
      ],
      [
        'a version no worker serves',
        () => client.predict('iris', { features: goodRow }, { version: '7' }),
        'ERR_MODEL_VERSION_NOT_FOUND',
      ],
      ['a missing input', () => client.predict('iris', { feature: goodRow }), 'ERR_INPUT_MISSING'],
      [
        'an input the model lacks',
        () => client.predict('iris', { features: goodRow, extra: [1] }),
        'ERR_INPUT_UNEXPECTED',
      ],
      [
        'the wrong dtype',
        () => client.predict('iris', { features: { data: new Float64Array(4), shape: [1, 4] } }),
        'ERR_INPUT_DTYPE',
      ],
      [
        'the wrong shape',
        () => client.predict('iris', { features: [[1, 2, 3]] }),
        'ERR_INPUT_SHAPE',
      ],
      [
        'the wrong rank',
        () => client.predict('iris', { features: [1, 2, 3, 4] }),
        'ERR_INPUT_SHAPE',
      ],
      [
        'an unknown output',
        () => client.predict('iris', { features: goodRow }, { outputs: ['logits'] }),
        'ERR_OUTPUT_UNKNOWN',
      ],
    ];
    it.each(cases)('rejects %s with its code', async (_name, call, code) => {
      await expect(call()).rejects.toMatchObject({ name: 'ConveyorError', code });
    });

    it('enqueued nothing for any refused request', async () => {
      const counts = await queue.getJobCounts(
        'waiting',
        'active',
        'completed',
        'failed',
        'delayed',
        'prioritized',
      );
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    });
  });

  describe('from the SDK with routing and signature cached, checked at once', () => {
    const total = async () =>
      Object.values(
        await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed'),
      ).reduce((a, b) => a + b, 0);

    it('refuses bad input with a rejected promise, never a throw, and enqueues nothing for it', async () => {
      // A good job first: its routing and signature are cached from here on.
      await client.predict('iris', { features: goodRow });
      const before = await total();
      const calls: [() => Promise<unknown>, ErrorCode][] = [
        [() => client.enqueue('iris', { features: [[1, 2, 3]] }), 'ERR_INPUT_SHAPE'],
        [() => client.enqueue('iris', { feature: goodRow }), 'ERR_INPUT_MISSING'],
        [() => client.enqueue('iris', { features: 'five' as never }), 'ERR_VALIDATION'],
        [
          () => client.enqueue('iris', { features: goodRow }, { outputs: ['logits'] }),
          'ERR_OUTPUT_UNKNOWN',
        ],
        [() => client.predict('iris', { features: [1, 2, 3, 4] }), 'ERR_INPUT_SHAPE'],
      ];
      for (const [call, code] of calls) {
        let pending: Promise<unknown> | undefined;
        expect(() => (pending = call())).not.toThrow();
        await expect(pending).rejects.toMatchObject({ name: 'ConveyorError', code });
      }
      expect(await total()).toBe(before);
      // And a good one still runs, on the version the cache named.
      const handle = await client.enqueue('iris', { features: goodRow });
      await expect(handle.result()).resolves.toMatchObject({ model: 'iris', version: '1' });
    });
  });

  describe('raw jobs placed on the queue directly, checked again by the worker', () => {
    const good = () => ({ v: 1, model: 'iris', inputs: { features: wire('features', goodRow) } });
    const cases: [string, unknown, ErrorCode][] = [
      ['a payload that is not an object', 'hello', 'ERR_PAYLOAD_INVALID'],
      ['an unknown payload version', { ...good(), v: 2 }, 'ERR_PAYLOAD_INVALID'],
      [
        'a payload for another model',
        { ...good(), model: 'text-direction' },
        'ERR_PAYLOAD_INVALID',
      ],
      ['a field the format does not have', { ...good(), extra: true }, 'ERR_PAYLOAD_INVALID'],
      [
        'a tensor as JSON numbers',
        {
          ...good(),
          inputs: { features: { dtype: 'float32', shape: [1, 4], data: [1, 2, 3, 4] } },
        },
        'ERR_PAYLOAD_INVALID',
      ],
      [
        'a negative dimension',
        { ...good(), inputs: { features: { ...wire('features', goodRow), shape: [-1, 4] } } },
        'ERR_PAYLOAD_INVALID',
      ],
      [
        'data shorter than its shape',
        { ...good(), inputs: { features: { ...wire('features', goodRow), shape: [2, 4] } } },
        'ERR_TENSOR_INVALID',
      ],
      [
        'a shape that would allocate terabytes',
        {
          ...good(),
          inputs: { features: { ...wire('features', goodRow), shape: [1_000_000, 1_000_000] } },
        },
        'ERR_TENSOR_TOO_LARGE',
      ],
      [
        'a missing input',
        { ...good(), inputs: { other: wire('other', goodRow) } },
        'ERR_INPUT_MISSING',
      ],
      [
        'an input the model lacks',
        {
          ...good(),
          inputs: { features: wire('features', goodRow), other: wire('other', goodRow) },
        },
        'ERR_INPUT_UNEXPECTED',
      ],
      [
        'the wrong dtype',
        {
          ...good(),
          inputs: { features: wire('features', { data: [[1, 2, 3, 4]], dtype: 'float64' }) },
        },
        'ERR_INPUT_DTYPE',
      ],
      [
        'the wrong shape',
        { ...good(), inputs: { features: wire('features', [[1, 2, 3, 4, 5]]) } },
        'ERR_INPUT_SHAPE',
      ],
      ['an unknown output', { ...good(), outputs: ['nope'] }, 'ERR_OUTPUT_UNKNOWN'],
      // Each version has its queue: a job naming another version is not this queue's to run.
      ['a version other than its queue', { ...good(), version: '9' }, 'ERR_PAYLOAD_INVALID'],
    ];
    it.each(cases)('fails %s with its code, without retrying', async (_name, payload, code) => {
      const job = await queue.add('predict', payload, {
        jobId: newJobId('iris', '1'),
        attempts: 3,
        backoff: { type: 'fixed', delay: 10 },
      });
      const handle = client.job(String(job.id));
      await expect(handle.result({ timeoutMs: 10_000 })).rejects.toMatchObject({ code });
      expect(await handle.status()).toMatchObject({
        state: 'failed',
        attemptsMade: 1,
        error: { code },
      });
    });

    it("carries the failure's facts across the queue: input details, payload issues", async () => {
      const add = (payload: unknown) =>
        queue.add('predict', payload, { jobId: newJobId('iris', '1'), attempts: 1 });
      const shaped = await add({
        ...good(),
        inputs: { features: wire('features', [[1, 2, 3, 4, 5]]) },
      });
      const shape = client.job(String(shaped.id));
      await expect(shape.result({ timeoutMs: 10_000 })).rejects.toMatchObject({
        code: 'ERR_INPUT_SHAPE',
        details: { input: 'features', expected: [-1, 4], actual: [1, 5] },
      });
      const extra = await add({ ...good(), extra: true });
      const payload = client.job(String(extra.id));
      const refused = await payload.result({ timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'ERR_PAYLOAD_INVALID' });
      expect((refused as { issues: { path: string }[] }).issues.length).toBeGreaterThan(0);
      const issue = (await payload.status()).error?.issues?.[0];
      expect(typeof issue?.path).toBe('string');
      expect(issue?.message.length).toBeGreaterThan(0);
    });

    it('logs each failure with job id, model and code', () => {
      const failures = worker.records.filter((r) => r.msg === 'job failed');
      expect(failures.length).toBeGreaterThanOrEqual(cases.length);
      for (const record of failures) {
        expect(record.model).toBe('iris');
        expect(typeof record.jobId).toBe('string');
        expect(String(record.code)).toMatch(/^ERR_/);
      }
    });

    it('still serves good jobs after all the bad ones', async () => {
      const { outputs } = await client.predict('iris', { features: goodRow });
      expect(outputs.probabilities!.shape).toEqual([1, 3]);
    });
  });
});
