import { describe, expect, it } from 'vitest';
import { createTensor } from '../tensor/tensor.js';
import { driftFeatures, visitFeatureValues } from './drift-features.js';

const collect = (
  features: ReturnType<typeof driftFeatures>,
  inputs: Parameters<typeof visitFeatureValues>[1],
) => {
  const values: number[][] = features.map(() => []);
  visitFeatureValues(features, inputs, (i, v) => values[i]?.push(v));
  return values;
};

describe('driftFeatures', () => {
  it('names the columns of a labelled [-1, F] input by label and reads them row by row', () => {
    const features = driftFeatures([
      { name: 'features', dtype: 'float32', shape: [-1, 2], labels: ['a', 'b'] },
    ]);
    expect(features.map((f) => f.name)).toEqual(['a', 'b']);
    const values = collect(features, {
      features: createTensor('float32', [3, 2], Float32Array.from([1, 10, 2, 20, 3, 30])),
    });
    expect(values).toEqual([
      [1, 2, 3],
      [10, 20, 30],
    ]);
  });

  it('names unlabelled columns <input>[<index>] and a [-1] input by its name, skipping text', () => {
    const features = driftFeatures([
      { name: 'x', dtype: 'int64', shape: [-1, 2] },
      { name: 'y', dtype: 'float64', shape: [-1] },
      { name: 'text', dtype: 'string', shape: [-1] },
      { name: 'image', dtype: 'float32', shape: [-1, 3, 8, 8] },
    ]);
    expect(features.map((f) => f.name)).toEqual(['x[0]', 'x[1]', 'y']);
    const values = collect(features, {
      x: createTensor('int64', [1, 2], BigInt64Array.from([4n, 5n])),
      y: createTensor('float64', [2], Float64Array.from([0.5, Number.NaN])),
    });
    expect(values).toEqual([[4], [5], [0.5]]);
  });

  it('takes the numeric and boolean fields of a record input, by field name', () => {
    const features = driftFeatures([{ name: 'record', dtype: 'string', shape: [-1] }], {
      record: {
        kind: 'record',
        extra: 'refuse',
        fields: [
          { name: 'age', type: 'integer' },
          { name: 'city', type: 'category', categories: ['a', 'b'] },
          { name: 'member', type: 'boolean' },
        ],
      },
    });
    expect(features.map((f) => f.name)).toEqual(['age', 'member']);
    const values = collect(features, {
      record: createTensor(
        'string',
        [3],
        ['{"age": 30, "city": "a", "member": true}', 'not json', '{"age": "old", "member": false}'],
      ),
    });
    expect(values).toEqual([[30], [1, 0]]);
  });
});
