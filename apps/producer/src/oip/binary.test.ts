import { describe, expect, it } from 'vitest';
import { ConveyorError } from '@conveyor/shared';
import { elementsFromBytes } from './binary.js';

/** A body whose float32 block starts `offset` bytes into its buffer. */
function bodyWithBlock(offset: number, values: readonly number[]): Buffer {
  const body = Buffer.alloc(offset + values.length * 4);
  values.forEach((v, i) => body.writeFloatLE(v, offset + i * 4));
  return body.subarray(offset);
}

describe('elementsFromBytes', () => {
  it('reads an aligned block as a view over the body, without a copy', () => {
    const block = bodyWithBlock(8, [1.5, -2, 3.25]);
    const data = elementsFromBytes('float32', block, 3, 'input "x"');
    expect(Array.from(data as Float32Array)).toEqual([1.5, -2, 3.25]);
    expect((data as Float32Array).buffer).toBe(block.buffer);
  });

  it('copies a block the dtype cannot view at its offset, and reads the same values', () => {
    const block = bodyWithBlock(3, [1.5, -2, 3.25]);
    const data = elementsFromBytes('float32', block, 3, 'input "x"');
    expect(Array.from(data as Float32Array)).toEqual([1.5, -2, 3.25]);
    expect((data as Float32Array).buffer).not.toBe(block.buffer);
  });

  it('refuses bool bytes other than 0 and 1 with ERR_TENSOR_INVALID', () => {
    const caught = (() => {
      try {
        elementsFromBytes('bool', Uint8Array.from([0, 1, 2]), 3, 'input "b"');
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(caught).toBeInstanceOf(ConveyorError);
    expect((caught as ConveyorError).code).toBe('ERR_TENSOR_INVALID');
  });
});
