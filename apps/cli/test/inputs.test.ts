import { describe, expect, it } from 'vitest';
import { isConveyorError } from '@conveyor/sdk';
import { inputsForModel } from '../src/inputs.js';

const tensor = (name: string) => ({ name, dtype: 'float32' as const, shape: [-1, 2] });

describe('inputsForModel', () => {
  it('keeps an object, and gives an array to the only input', () => {
    const one = { name: 'm', version: '1', inputs: [tensor('x')] };
    expect(inputsForModel({ x: [[1, 2]] }, '--input', one)).toEqual({ x: [[1, 2]] });
    expect(inputsForModel([[1, 2]], '--input', one)).toEqual({ x: [[1, 2]] });
  });

  it('refuses an array for a model with several inputs, naming them', () => {
    const two = { name: 'm', version: '3', inputs: [tensor('a'), tensor('b')] };
    let thrown: unknown;
    try {
      inputsForModel([[1, 2]], 'input file f.json', two);
    } catch (error) {
      thrown = error;
    }
    expect(isConveyorError(thrown) && thrown.code).toBe('ERR_VALIDATION');
    expect(thrown instanceof Error && thrown.message).toBe(
      'input file f.json is an array, but m@3 takes 2 inputs ("a", "b"): give an object of tensors by input name',
    );
  });
});
