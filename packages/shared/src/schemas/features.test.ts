import { describe, expect, it } from 'vitest';
import { isConveyorError } from '../errors.js';
import { featuresToInputs, isFeatureRow, isFeatureRows } from './features.js';
import type { ModelSignature } from './model-config.js';

const iris: ModelSignature = {
  name: 'iris',
  version: '1',
  inputs: [{ name: 'features', dtype: 'float32', shape: [-1, 2], labels: ['width', 'length'] }],
  outputs: [{ name: 'probabilities', dtype: 'float32', shape: [-1, 3] }],
};
const vad: ModelSignature = {
  name: 'vad',
  version: '1',
  inputs: [
    { name: 'input', dtype: 'float32', shape: [-1, -1] },
    { name: 'sr', dtype: 'int64', shape: [] },
  ],
  outputs: [{ name: 'output', dtype: 'float32', shape: [-1, 1] }],
};

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isConveyorError(error) ? error.code : `not a ConveyorError: ${String(error)}`;
  }
  return undefined;
}

describe('isFeatureRow', () => {
  it('takes an object of scalars for a row of named features', () => {
    expect(isFeatureRow({ width: 1, length: 2 })).toBe(true);
    expect(isFeatureRow({ width: 1, length: 2 }, iris)).toBe(true);
    expect(isFeatureRow({ color: 'red', ok: true, n: 1n })).toBe(true);
  });

  it('takes an object with a key that names an input of the model for inputs by name', () => {
    expect(isFeatureRow({ sr: 16000 }, vad)).toBe(false);
    expect(isFeatureRow({ sr: 16000, other: 1 }, vad)).toBe(false);
    expect(isFeatureRow({ features: 'five' }, iris)).toBe(false);
  });

  it('refuses objects holding arrays or objects, empty objects and non-objects', () => {
    for (const value of [{ sr: 16000, input: [[1]] }, { a: { data: [1] } }, {}, [1], 1, null]) {
      expect(isFeatureRow(value)).toBe(false);
    }
    expect(isFeatureRows([])).toBe(false);
    expect(isFeatureRows([{ width: 1 }, { width: 2 }])).toBe(true);
  });
});

describe('featuresToInputs', () => {
  it('fills the labelled input in the order of its labels, in its declared dtype', () => {
    expect(featuresToInputs(iris, [{ length: 2, width: 1 }])).toEqual({
      features: { data: [[1, 2]], dtype: 'float32' },
    });
  });

  it('refuses a model whose input has no labels with ERR_FEATURES_UNSUPPORTED', () => {
    expect(codeOf(() => featuresToInputs(vad, { rate: 1 }))).toBe('ERR_FEATURES_UNSUPPORTED');
  });

  it('refuses a row that gives a scalar for a tensor input with ERR_VALIDATION', () => {
    expect(codeOf(() => featuresToInputs(iris, [{ features: 1 }]))).toBe('ERR_VALIDATION');
  });
});
