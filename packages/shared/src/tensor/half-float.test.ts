import { describe, expect, it } from 'vitest';
import { halfToNumber, numberToHalf } from './half-float.js';

describe('half precision', () => {
  it('round-trips every half-precision bit pattern that is not NaN', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = halfToNumber(bits);
      if (Number.isNaN(value)) continue;
      if (numberToHalf(value) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    ['a tie between 2048 and 2050 to the even mantissa', 2049, 0x6800],
    ['a tie between 2050 and 2052 to the even mantissa', 2051, 0x6802],
    ['just above a tie upwards', 2049.0001, 0x6801],
    ['0.1 to its nearest half', 0.1, 0x2e66],
    ['the largest half', 65504, 0x7bff],
    ['65519.99 down to the largest half', 65519.99, 0x7bff],
    ['65520 and above to infinity', 65520, 0x7c00],
    ['the smallest subnormal', 2 ** -24, 0x0001],
    ['half the smallest subnormal (a tie) to zero', 2 ** -25, 0x0000],
    ['the largest subnormal rounding up into the normals', 2 ** -14 - 2 ** -26, 0x0400],
    ['-0 to the negative zero', -0, 0x8000],
    ['-Infinity', Number.NEGATIVE_INFINITY, 0xfc00],
  ])('rounds %s', (_name, value, bits) => {
    expect(numberToHalf(value)).toBe(bits);
  });

  it('writes NaN as a quiet NaN', () => {
    expect(Number.isNaN(halfToNumber(numberToHalf(Number.NaN)))).toBe(true);
  });
});
