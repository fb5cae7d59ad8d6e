import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import {
  RESULT_CHUNK_BYTES,
  RESULT_FIELD,
  createLogger,
  loadConfig,
  queueName,
  queueKey,
} from '@conveyor/shared';
import { startWorkerService, type WorkerService } from '../../apps/worker/src/worker-service.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';

/**
 * Large outputs are stored once, raw, in their job's hash: the return value and the completed
 * event carry only where they lie; a queue's stored results stay under RESULT_BUDGET_BYTES (the
 * oldest go first); a result over RESULT_MAX_BYTES fails its job alone.
 */
const { onnx } = onnxProto;
const T = onnx.TensorProto.DataType;
const WIDTH = 1024;

/** y = x (float32 [-1, 1024]): 4 KiB of output per row. */
function echoModel(): Uint8Array {
  const info = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: T.FLOAT,
        shape: { dim: [{ dimParam: 'batch' }, { dimValue: WIDTH }] },
      },
    },
  });
  const graph = {
    name: 'echo',
    input: [info('x')],
    output: [info('y')],
    node: [{ opType: 'Identity', input: ['x'], output: ['y'] }],
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'conveyor/test/integration/stored-results.test.ts',
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

const redisUrl = inject('redisUrl');
const silent = createLogger({ level: 'silent', component: 'worker' });
let repository: string;

beforeAll(async () => {
  repository = await mkdtemp(join(tmpdir(), 'conveyor-stored-'));
  await mkdir(join(repository, 'echo', '1'), { recursive: true });
  await writeFile(join(repository, 'echo', '1', 'model.onnx'), echoModel());
  // One row per call: every job's result is its own.
  await writeFile(
    join(repository, 'echo', '1', 'model.json'),
    JSON.stringify({ name: 'echo', batching: false }),
  );
});

afterAll(async () => {
  await rm(repository, { recursive: true, force: true });
});

/** A worker and a client on a prefix of their own, with the given worker settings. */
function setup(env: Record<string, string> = {}) {
  const prefix = uniquePrefix();
  const state: { worker?: WorkerService; client?: QueueClient; redis?: Redis; prefix: string } = {
    prefix,
  };
  beforeAll(async () => {
    state.worker = await startWorkerService(
      loadConfig({
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefix,
        MODEL_REPOSITORY: repository,
        LOG_LEVEL: 'silent',
        ...env,
      }),
      silent,
    );
    state.client = await createClient({ redisUrl, prefix });
    state.redis = new Redis(redisUrl);
  }, 60_000);
  afterAll(async () => {
    await state.client?.close();
    await state.worker?.close();
    state.redis?.disconnect();
    await dropPrefix(redisUrl, prefix);
  });
  return state;
}

/** `rows` rows of WIDTH floats, row r holding r + i / WIDTH. */
function rowsOf(rows: number): Float32Array {
  return Float32Array.from(
    { length: rows * WIDTH },
    (_, i) => Math.floor(i / WIDTH) + (i % WIDTH) / WIDTH,
  );
}

describe('large outputs', () => {
  const ctx = setup();
  const jobKey = (id: string) => queueKey(ctx.prefix, queueName('echo', '1'), id);

  it('are stored once, raw, in the job hash; the event carries only where they lie', async () => {
    const x = rowsOf(2);
    const prediction = await ctx.client!.predict('echo', { x: { data: x, shape: [2, WIDTH] } });
    expect(prediction.outputs.y?.shape).toEqual([2, WIDTH]);
    expect(Array.from(prediction.outputs.y?.data as Float32Array)).toEqual(Array.from(x));

    const redis = ctx.redis!;
    const stored = await redis.hgetBuffer(jobKey(prediction.jobId), RESULT_FIELD);
    expect(stored?.byteLength).toBe(x.byteLength);
    const returnvalue = await redis.hget(jobKey(prediction.jobId), 'returnvalue');
    expect(JSON.parse(returnvalue ?? 'null')).toMatchObject({
      outputs: { y: { dtype: 'float32', shape: [2, WIDTH], at: 0, bytes: x.byteLength } },
    });
    expect(returnvalue?.length).toBeLessThan(1024);
    const events = await redis.xrange(
      queueKey(ctx.prefix, queueName('echo', '1'), 'events'),
      '-',
      '+',
    );
    const completed = events
      .map(([, fields]) => fields)
      .find((f) => f.includes('completed') && f.includes(prediction.jobId));
    expect(completed?.join('').length).toBeLessThan(1024);
  });

  it('come back whole from a handle read later, and from read()', async () => {
    const x = rowsOf(3);
    const handle = await ctx.client!.enqueue('echo', { x: { data: x, shape: [3, WIDTH] } });
    const first = await handle.result();
    const again = await ctx.client!.job(handle.id).result();
    expect(Array.from(again.outputs.y?.data as Float32Array)).toEqual(Array.from(x));
    expect(again.timings).toEqual(first.timings);
    const record = await ctx.client!.job(handle.id).read();
    expect(record?.outcome?.ok).toBe(true);
  });

  it('are not read at all by read({ outputs: false }), which still has the version and timings', async () => {
    const prediction = await ctx.client!.predict('echo', {
      x: { data: rowsOf(2), shape: [2, WIDTH] },
    });
    // With its outputs gone from the hash, only a read that skips them still answers whole.
    await ctx.redis!.hdel(jobKey(prediction.jobId), RESULT_FIELD);
    const summary = await ctx.client!.job(prediction.jobId).read({ outputs: false });
    expect(summary?.state).toBe('completed');
    expect(summary?.outcome).toEqual({
      ok: true,
      prediction: {
        jobId: prediction.jobId,
        model: 'echo',
        version: '1',
        timings: prediction.timings,
      },
    });
    const whole = await ctx.client!.job(prediction.jobId).read();
    expect(whole?.outcome?.ok).toBe(false);
  });

  it('a job reads its request back after it ran', async () => {
    const client = await createClient({ redisUrl, prefix: ctx.prefix });
    try {
      const x = rowsOf(2);
      const handle = await client.enqueue(
        'echo',
        { x: { data: x, shape: [2, WIDTH] } },
        { priority: 3 },
      );
      await handle.result();
      const request = await client.job(handle.id).request();
      expect(request).toMatchObject({ model: 'echo', version: '1', priority: 3 });
      expect(Array.from(request?.inputs.x?.data as Float32Array)).toEqual(Array.from(x));
    } finally {
      await client.close();
    }
  });

  it('are split into fields that fill allocator size classes, and read back whole', async () => {
    const x = rowsOf(100); // 409,600 bytes: two fields
    const prediction = await ctx.client!.predict('echo', { x: { data: x, shape: [100, WIDTH] } });
    expect(Array.from(prediction.outputs.y?.data as Float32Array)).toEqual(Array.from(x));
    const fields = await ctx.redis!.hmgetBuffer(
      jobKey(prediction.jobId),
      RESULT_FIELD,
      `${RESULT_FIELD}:1`,
      `${RESULT_FIELD}:2`,
    );
    expect(fields.map((f) => f?.byteLength ?? null)).toEqual([
      RESULT_CHUNK_BYTES,
      x.byteLength - RESULT_CHUNK_BYTES,
      null,
    ]);
    const record = await ctx.client!.job(prediction.jobId).read();
    const again = record?.outcome?.ok ? record.outcome.prediction : undefined;
    expect(Array.from(again?.outputs.y?.data as Float32Array)).toEqual(Array.from(x));
  });

  it('are stored from 4 KiB up: one row of 1,024 floats', async () => {
    const prediction = await ctx.client!.predict('echo', {
      x: { data: new Float32Array(WIDTH).fill(0.5), shape: [1, WIDTH] },
    });
    expect(prediction.outputs.y?.shape).toEqual([1, WIDTH]);
    const stored = await ctx.redis!.hgetBuffer(jobKey(prediction.jobId), RESULT_FIELD);
    expect(stored?.byteLength).toBe(WIDTH * 4);
  });
});

describe('the byte budget of stored results', () => {
  // Three results of 4 KiB fit; a fourth removes the oldest.
  const ctx = setup({ RESULT_BUDGET_BYTES: String(3 * WIDTH * 4) });

  it('removes the oldest completed jobs first and keeps the total under the budget', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const prediction = await ctx.client!.predict('echo', {
        x: { data: rowsOf(1), shape: [1, WIDTH] },
      });
      ids.push(prediction.jobId);
    }
    // Removal runs beside the job that went over; wait until it is done.
    await expect
      .poll(async () => (await ctx.client!.job(ids[2]!).read()) === undefined, { timeout: 5000 })
      .toBe(true);
    const present = await Promise.all(
      ids.map(async (id) => (await ctx.client!.job(id).read()) !== undefined),
    );
    expect(present).toEqual([false, false, false, true, true, true]);
    const total = await ctx.redis!.get(
      queueKey(ctx.prefix, queueName('echo', '1'), 'cv-result-bytes'),
    );
    expect(Number(total)).toBeLessThanOrEqual(3 * WIDTH * 4);
  });
});

describe('a result over RESULT_MAX_BYTES', () => {
  const ctx = setup({ RESULT_MAX_BYTES: String(2 * WIDTH * 4) });

  it('fails its job with ERR_RESULT_TOO_LARGE and no other', async () => {
    await expect(
      ctx.client!.predict('echo', { x: { data: rowsOf(3), shape: [3, WIDTH] } }),
    ).rejects.toMatchObject({ code: 'ERR_RESULT_TOO_LARGE' });
    const ok = await ctx.client!.predict('echo', { x: { data: rowsOf(2), shape: [2, WIDTH] } });
    expect(ok.outputs.y?.shape).toEqual([2, WIDTH]);
  });
});
