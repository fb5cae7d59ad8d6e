import { afterAll, describe, expect, it } from 'vitest';
import { SessionConfigSchema, createTensor, type Tensor } from '@conveyor/shared';
import { pieceInputs, type BatchRequest } from './batch-request.js';
import { createInferencePool } from './inference-pool.js';
import { createStagingBuffers } from './staging-buffers.js';

const IRIS = new URL('../../../models/iris/1/model.onnx', import.meta.url).pathname;

/** A waiting request holding `inputs`, as the batcher makes them. */
function waiting(inputs: Record<string, Tensor>, rows: number): BatchRequest {
  return {
    inputs,
    outputs: [],
    rows,
    transfer: false,
    arrivedAt: 0,
    deadlineAt: Number.POSITIVE_INFINITY,
    queuedAt: 0,
    serial: false,
    joinable: true,
    taken: 0,
    settled: false,
    parts: [],
    resolve: () => undefined,
    reject: () => undefined,
  };
}

describe('staging buffers', () => {
  it('hands out power-of-two buffers and hands the same ones out again once given back', () => {
    const staging = createStagingBuffers(1);
    const first = staging.take(110_592);
    expect(first.byteLength).toBe(131_072);
    expect(staging.owns(first)).toBe(true);
    staging.give(first);
    expect(staging.take(100_000)).toBe(first);
    // Not one of its sizes: dropped, never handed out.
    staging.give(new ArrayBuffer(110_592));
    expect(staging.take(110_592)).not.toBe(first);
  });

  it('keeps at most two free buffers per size and thread', () => {
    const staging = createStagingBuffers(1);
    const taken = [staging.take(64), staging.take(64), staging.take(64)];
    for (const buffer of taken) staging.give(buffer);
    const again = [staging.take(64), staging.take(64), staging.take(64)];
    expect(again.filter((b) => taken.includes(b))).toHaveLength(2);
  });

  it('takes a slice of a request, shape and values kept, and leaves a whole one as it is', () => {
    const staging = createStagingBuffers(1);
    const x = createTensor('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const request = waiting({ x }, 2);
    const whole = pieceInputs({ request, from: 0, rows: 2 }, staging.take);
    expect(whole.inputs.x).toBe(x);
    const slice = pieceInputs({ request, from: 1, rows: 1 }, staging.take);
    expect(slice.transfer).toBe(true);
    expect(slice.inputs.x?.shape).toEqual([1, 3]);
    expect([...(slice.inputs.x?.data as Float32Array)]).toEqual([4, 5, 6]);
    expect(staging.owns((slice.inputs.x?.data as Float32Array).buffer)).toBe(true);
    expect([...x.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('an inference thread given staged inputs', () => {
  const pool = createInferencePool(1);
  afterAll(() => pool.close());
  const task = (features: Tensor, returnInputs: boolean) => ({
    kind: 'run' as const,
    modelPath: IRIS,
    session: SessionConfigSchema.parse({}),
    inputs: { features },
    outputs: ['probabilities'],
    returnInputs,
  });

  it('moves their buffer back with its answer, and a refilled buffer gives the new rows', async () => {
    const staging = createStagingBuffers(1);
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ];
    const expected: number[][] = [];
    for (const row of rows) {
      const plain = createTensor('float32', [1, 4], Float32Array.from(row));
      const reply = await pool.run(task(plain, false));
      if (reply.kind !== 'run') throw new Error('not a run reply');
      expect(reply.returned).toBeUndefined();
      expected.push([...(reply.outputs.probabilities?.data as Float32Array)]);
    }
    const taken: ArrayBuffer[] = [];
    const back: ArrayBuffer[] = [];
    for (const [i, row] of rows.entries()) {
      taken.push(staging.take(16));
      const data = new Float32Array(taken[i] as ArrayBuffer, 0, 4);
      data.set(row);
      const reply = await pool.run(task(createTensor('float32', [1, 4], data), true), true);
      if (reply.kind !== 'run') throw new Error('not a run reply');
      expect(data.buffer.byteLength).toBe(0);
      expect([...(reply.outputs.probabilities?.data as Float32Array)]).toEqual(expected[i]);
      expect(reply.returned).toHaveLength(1);
      back.push(reply.returned?.[0] as ArrayBuffer);
      expect(back[i]?.byteLength).toBe(4096);
      staging.give(back[i] as ArrayBuffer);
    }
    // The second run was staged in the buffer the first one gave back.
    expect(taken[1]).toBe(back[0]);
  });
});
