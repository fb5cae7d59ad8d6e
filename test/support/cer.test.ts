import { describe, expect, it } from 'vitest';
import { characterErrorRate, editDistance } from './cer.js';

describe('character error rate', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abc', '')).toBe(3);
    expect(editDistance('flaw', 'lawn')).toBe(2);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('counts a character outside the basic plane as one', () => {
    expect(editDistance('a😀b', 'ab')).toBe(1);
    expect(editDistance('识别', '识列')).toBe(1);
  });

  it('divides the edits by the length of the truth', () => {
    expect(characterErrorRate('Helo world', 'Hello world')).toBeCloseTo(1 / 11, 12);
    expect(characterErrorRate('', '')).toBe(0);
    expect(characterErrorRate('x', '')).toBe(1);
    expect(characterErrorRate('', 'abcd')).toBe(1);
  });
});
