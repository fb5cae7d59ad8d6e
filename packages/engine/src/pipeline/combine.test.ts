import { describe, expect, it } from 'vitest';
import { createTensor, type Tensor } from '@conveyor/shared';
import { combineTensors } from './combine.js';

const f32 = (shape: number[], values: number[]) =>
  createTensor('float32', shape, Float32Array.from(values));
const A = f32([2, 2], [1, 2, 3, 4]);
const B = f32([2, 2], [5, 6, 7, 0]);
const run = (
  op: Parameters<typeof combineTensors>[1],
  weights?: number[],
  tensors: readonly Tensor[] = [A, B],
) => combineTensors('s', op, tensors, 1 << 20, weights);

describe('combine', () => {
  it('joins element by element', () => {
    expect([...run('mean').data]).toEqual([3, 4, 5, 2]);
    // (3a + b) / 4
    expect([...run('mean', [3, 1]).data]).toEqual([2, 3, 4, 3]);
    expect([...run('max').data]).toEqual([5, 6, 7, 4]);
    expect([...run('min').data]).toEqual([1, 2, 3, 0]);
    expect([...run('sum').data]).toEqual([6, 8, 10, 4]);
    expect(run('sum').shape).toEqual([2, 2]);
  });

  it('puts rows side by side on the last axis', () => {
    const C = f32([2, 1], [9, 8]);
    const joined = run('concat', undefined, [A, C, B]);
    expect(joined.shape).toEqual([2, 5]);
    expect([...joined.data]).toEqual([1, 2, 9, 5, 6, 3, 4, 8, 7, 0]);
  });

  it('refuses sources that do not fit, naming the step and their shapes', () => {
    expect(() => run('mean', undefined, [A, f32([1, 4], [1, 2, 3, 4])])).toThrow(
      'combine step "s" needs one shape; its sources are float32 [2, 2], float32 [1, 4]',
    );
    expect(() => run('concat', undefined, [A, f32([1, 2], [1, 2])])).toThrow(
      /needs the same dimensions but the last/,
    );
    const ints = createTensor('int64', [2, 2], BigInt64Array.from([1n, 2n, 3n, 4n]));
    expect(() => run('sum', undefined, [A, ints])).toThrow(
      expect.objectContaining({ code: 'ERR_MODEL_CONFIG_INVALID' }),
    );
  });
});
