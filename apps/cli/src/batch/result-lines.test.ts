import { describe, expect, it } from 'vitest';
import type { Tensor } from '@conveyor/shared';
import { blockLines, rowLine } from './result-lines.js';

/** Row `i` of a tensor whose first dimension is the batch, as a `[1, ...]` tensor. */
function rowOf(tensor: Tensor, i: number, rows: number): Tensor {
  const per = tensor.data.length / rows;
  const data = (tensor.data as { slice(a: number, b: number): Tensor['data'] }).slice(
    i * per,
    (i + 1) * per,
  );
  return { dtype: tensor.dtype, shape: [1, ...tensor.shape.slice(1)], data };
}

describe('blockLines', () => {
  it('writes each row the line it gets alone, for numbers, non-finite values and int64', () => {
    const outputs: Record<string, Tensor> = {
      probabilities: {
        dtype: 'float32',
        shape: [3, 2, 2],
        data: Float32Array.of(0.1, 0.2, Number.NaN, 4, -0, 1e-7, Infinity, 3.5, 1, 2, 3, 4),
      },
      label: { dtype: 'int64', shape: [3], data: BigInt64Array.of(1n, 2n ** 60n, -3n) },
    };
    const written: string[] = [];
    expect(blockLines([2, 5, 9], outputs, (line) => written.push(line))).toBe(true);
    const alone = [2, 5, 9].map((line, i) =>
      rowLine(line, {
        probabilities: rowOf(outputs.probabilities!, i, 3),
        label: rowOf(outputs.label!, i, 3),
      }),
    );
    expect(written).toEqual(alone);
    expect(JSON.parse(written[0]!)).toMatchObject({ line: 2 });
  });

  it('writes nothing and gives false when an output is not one entry per row', () => {
    const outputs: Record<string, Tensor> = {
      total: { dtype: 'float32', shape: [1], data: Float32Array.of(6) },
    };
    const written: string[] = [];
    expect(blockLines([2, 3], outputs, (line) => written.push(line))).toBe(false);
    expect(written).toEqual([]);
  });
});
