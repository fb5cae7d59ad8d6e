import { describe, expect, it } from 'vitest';
import { isConveyorError } from '@conveyor/shared';
import { ctcDecode, dictionaryClasses } from './ctc.js';

/** One-hot-ish scores: each step gives `p` to its class and spreads the rest. */
function scores(steps: number[][], classes: number, p = 0.8): Float32Array {
  const data = new Float32Array(steps.flat().length * classes);
  let offset = 0;
  for (const line of steps)
    for (const best of line) {
      for (let c = 0; c < classes; c++) data[offset + c] = c === best ? p : (1 - p) / (classes - 1);
      offset += classes;
    }
  return data;
}

describe('CTC decoding', () => {
  it('puts the blank first and a space last, ignoring a final newline', () => {
    expect(dictionaryClasses('a\nb\r\nc\n', { blank: 0, space: true })).toEqual([
      '',
      'a',
      'b',
      'c',
      ' ',
    ]);
    expect(dictionaryClasses('a\nb', { blank: 2, space: false })).toEqual(['a', 'b', '']);
  });

  it('refuses a blank index beyond the dictionary', () => {
    expect(() => dictionaryClasses('a\nb', { blank: 3, space: false })).toThrow(
      expect.objectContaining({ code: 'ERR_MODEL_CONFIG_INVALID' }),
    );
  });

  it('merges repeats, keeps a letter repeated across a blank and drops blanks', () => {
    const classes = ['', 'a', 'b', ' '];
    const data = scores([[1, 1, 0, 1, 2, 2, 3, 0]], 4);
    const lines = ctcDecode({ data, dims: [1, 8, 4] }, classes, 0);
    expect(lines.map((l) => l.text)).toEqual(['aab ']);
    expect(lines[0]!.confidence).toBeCloseTo(0.8, 6);
  });

  it('decodes each line of a batch and gives an empty line confidence 0', () => {
    const classes = ['', 'a', 'b'];
    const data = scores(
      [
        [1, 2, 0],
        [0, 0, 0],
      ],
      3,
      0.6,
    );
    const [first, second] = ctcDecode({ data, dims: [2, 3, 3] }, classes, 0);
    expect(first!.text).toBe('ab');
    expect(first!.confidence).toBeCloseTo(0.6, 6);
    expect(second).toEqual({ text: '', confidence: 0 });
  });

  it('refuses scores whose class count differs from the dictionary', () => {
    try {
      ctcDecode({ data: new Float32Array(6), dims: [1, 2, 3] }, ['', 'a'], 0);
      expect.unreachable();
    } catch (error) {
      expect(isConveyorError(error) && error.code).toBe('ERR_MODEL_CONFIG_INVALID');
    }
  });
});
