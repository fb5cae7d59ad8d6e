import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import {
  blobKey,
  createTensor,
  newJobId,
  queueName,
  toNumbers,
  type JobPayload,
  queuePrefix,
} from '@conveyor/shared';
import { FAILED_INPUTS_KEEP_S } from '../../apps/worker/src/processor.js';
import { textLine } from '../../scripts/lib/text-line.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const line = () => createTensor('float32', [1, 3, 48, 192], textLine('STORED'));

/** Large inputs travel as raw bytes beside their job (BlobTensorSchema), not as base64 in it. */
describe('inputs stored beside their job', () => {
  let worker: WorkerProcess;
  let client: ConveyorClient;
  let inline: ConveyorClient;
  let redis: Redis;
  let queue: Queue;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix, { MODELS: 'text-direction' });
    client = await createClient({ redisUrl, prefix });
    // The same client with storing off: every input inline in base64.
    inline = await createClient({ redisUrl, prefix, blobThresholdBytes: 2 ** 31 });
    redis = new Redis(redisUrl);
    queue = new Queue(queueName('text-direction', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('text-direction', '1')),
      skipMetasUpdate: true,
    });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await inline?.close();
    await queue?.close();
    redis?.disconnect();
    await worker?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('gives the same outputs as inline inputs, keeps the job small, and deletes the bytes after', async () => {
    await queue.pause();
    const stored = await client.enqueue('text-direction', { x: line() });
    const job = await queue.getJob(stored.id);
    expect((job?.data as JobPayload).inputs.x).toEqual({
      dtype: 'float32',
      shape: [1, 3, 48, 192],
      blob: true,
    });
    expect(await redis.strlen(blobKey(prefix, stored.id, 'x'))).toBe(3 * 48 * 192 * 4);
    await queue.resume();

    const [a, b] = await Promise.all([
      stored.result(),
      inline.predict('text-direction', { x: line() }),
    ]);
    expect(toNumbers(a.outputs['softmax_0.tmp_0']!)).toEqual(
      toNumbers(b.outputs['softmax_0.tmp_0']!),
    );
    // Deleted once BullMQ has recorded the completion, just after the result is out.
    await expect.poll(() => redis.exists(blobKey(prefix, stored.id, 'x'))).toBe(0);
  });

  it('deletes the stored bytes of a cancelled job', async () => {
    await queue.pause();
    try {
      const handle = await client.enqueue('text-direction', { x: line() });
      expect(await redis.exists(blobKey(prefix, handle.id, 'x'))).toBe(1);
      await handle.cancel();
      expect(await redis.exists(blobKey(prefix, handle.id, 'x'))).toBe(0);
    } finally {
      await queue.resume();
    }
  });

  const x = { dtype: 'float32', shape: [1, 3, 48, 192], blob: true };
  it.each([
    ['stored bytes that are gone', undefined, {}, 'ERR_PAYLOAD_INVALID'],
    ['stored bytes of the wrong length', Buffer.alloc(100), {}, 'ERR_TENSOR_INVALID'],
    // Its stored inputs are named from the job's data before the payload is checked.
    [
      'stored bytes, in a payload that is not valid',
      Buffer.alloc(3 * 48 * 192 * 4),
      { extra: 1 },
      'ERR_PAYLOAD_INVALID',
    ],
  ] as const)('fails a job with %s, without retrying', async (_, bytes, more, code) => {
    const jobId = newJobId('text-direction', '1');
    if (bytes) await redis.set(blobKey(prefix, jobId, 'x'), bytes);
    await queue.add(
      'predict',
      { v: 1, model: 'text-direction', inputs: { x }, ...more },
      { jobId, attempts: 3 },
    );
    const handle = client.job(jobId);
    await expect(handle.result({ timeoutMs: 20_000 })).rejects.toMatchObject({ code });
    expect(await handle.status()).toMatchObject({ state: 'failed', attemptsMade: 1 });
    // A failed job's stored input expires soon (FAILED_INPUTS_KEEP_S), so its request can be read.
    const ttl = await redis.ttl(blobKey(prefix, jobId, 'x'));
    if (bytes) expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(FAILED_INPUTS_KEEP_S);
  });
});
