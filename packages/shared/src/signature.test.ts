import { describe, expect, it } from 'vitest';
import { isConveyorError } from './errors.js';
import type { ModelSignature } from './schemas/model-config.js';
import { checkRequest, shapeMatches } from './signature.js';
import type { Dtype } from './tensor/dtype.js';

const signature: ModelSignature = {
  name: 'iris',
  version: '1',
  inputs: [
    { name: 'features', dtype: 'float32', shape: [-1, 4] },
    { name: 'mask', dtype: 'bool', shape: [-1] },
  ],
  outputs: [
    { name: 'label', dtype: 'int64', shape: [-1] },
    { name: 'probabilities', dtype: 'float32', shape: [-1, 3] },
  ],
};

const input = (dtype: Dtype, shape: number[]) => ({ dtype, shape });
const good = { features: input('float32', [2, 4]), mask: input('bool', [2]) };

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isConveyorError(error) ? error.code : `not a ConveyorError: ${String(error)}`;
  }
  return undefined;
}

describe('checkRequest', () => {
  it('returns every output, in signature order, when the request names none', () => {
    expect(checkRequest(signature, good)).toEqual(['label', 'probabilities']);
  });

  it('returns the requested outputs once each', () => {
    expect(checkRequest(signature, good, ['probabilities', 'probabilities'])).toEqual([
      'probabilities',
    ]);
  });

  it('accepts any size where the signature has -1', () => {
    expect(() =>
      checkRequest(signature, { features: input('float32', [1, 4]), mask: input('bool', [1]) }),
    ).not.toThrow();
    expect(() =>
      checkRequest(signature, { features: input('float32', [0, 4]), mask: input('bool', [9]) }),
    ).not.toThrow();
  });

  it('rejects a request without an input the model needs with ERR_INPUT_MISSING', () => {
    expect(codeOf(() => checkRequest(signature, { features: good.features }))).toBe(
      'ERR_INPUT_MISSING',
    );
  });

  it('rejects an input the model does not take with ERR_INPUT_UNEXPECTED', () => {
    expect(codeOf(() => checkRequest(signature, { ...good, extra: input('float32', [1]) }))).toBe(
      'ERR_INPUT_UNEXPECTED',
    );
  });

  it('reports a misspelt input as missing, since missing inputs are checked first', () => {
    expect(codeOf(() => checkRequest(signature, { feature: good.features, mask: good.mask }))).toBe(
      'ERR_INPUT_MISSING',
    );
  });

  it('rejects an input of another dtype with ERR_INPUT_DTYPE', () => {
    expect(
      codeOf(() => checkRequest(signature, { ...good, features: input('float64', [2, 4]) })),
    ).toBe('ERR_INPUT_DTYPE');
  });

  it('rejects an input of another rank or fixed dimension with ERR_INPUT_SHAPE', () => {
    expect(
      codeOf(() => checkRequest(signature, { ...good, features: input('float32', [2, 3]) })),
    ).toBe('ERR_INPUT_SHAPE');
    expect(
      codeOf(() => checkRequest(signature, { ...good, features: input('float32', [8]) })),
    ).toBe('ERR_INPUT_SHAPE');
    expect(codeOf(() => checkRequest(signature, { ...good, mask: input('bool', [2, 1]) }))).toBe(
      'ERR_INPUT_SHAPE',
    );
  });

  it('takes shape [] for an input of shape [] and refuses shape [1] for it with ERR_INPUT_SHAPE', () => {
    const scalar = { ...signature, inputs: [{ name: 'sr', dtype: 'int64' as const, shape: [] }] };
    expect(checkRequest(scalar, { sr: input('int64', []) })).toEqual(['label', 'probabilities']);
    expect(codeOf(() => checkRequest(scalar, { sr: input('int64', [1]) }))).toBe('ERR_INPUT_SHAPE');
  });

  it('rejects a request for an output the model does not have with ERR_OUTPUT_UNKNOWN', () => {
    expect(codeOf(() => checkRequest(signature, good, ['label', 'logits']))).toBe(
      'ERR_OUTPUT_UNKNOWN',
    );
  });

  it('names the model, version and input in the error details', () => {
    try {
      checkRequest(signature, { ...good, features: input('float64', [2, 4]) });
      expect.unreachable();
    } catch (error) {
      expect(isConveyorError(error) && error.details).toMatchObject({
        model: 'iris',
        version: '1',
        input: 'features',
        expected: 'float32',
        actual: 'float64',
      });
    }
  });
});

describe('shapeMatches', () => {
  it('matches equal shapes and -1 against any size, but never another rank', () => {
    expect(shapeMatches([], [])).toBe(true);
    expect(shapeMatches([-1, 3], [7, 3])).toBe(true);
    expect(shapeMatches([-1, 3], [7, 4])).toBe(false);
    expect(shapeMatches([-1], [7, 3])).toBe(false);
    expect(shapeMatches([1], [])).toBe(false);
  });
});
