/**
 * IEEE 754 half precision (FP16) to and from JavaScript numbers. Conveyor keeps float16 tensors
 * as their raw 16-bit patterns (a Uint16Array), so JSON numbers are converted at the edge.
 */

/** Rounds to the nearest integer, ties to even, as IEEE 754 rounding does. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The half-precision bits nearest to `value` (ties to even); NaN, ±Infinity and -0 are kept. */
export function numberToHalf(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  // 65520 is halfway between the largest half (65504) and 2^16: it and above round to infinity.
  if (magnitude >= 65520) return sign | 0x7c00;
  if (magnitude < 2 ** -14) {
    // Subnormal: a multiple of 2^-24. A result of 1024 is the smallest normal, 0x0400, as it should.
    return sign | roundHalfEven(magnitude * 2 ** 24);
  }
  let exponent = Math.floor(Math.log2(magnitude));
  // log2 may be off by one near powers of two; scaling by powers of two is exact, so check.
  if (2 ** exponent > magnitude) exponent -= 1;
  else if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  const mantissa = roundHalfEven((magnitude / 2 ** exponent - 1) * 1024);
  // A mantissa rounded up to 1024 carries into the exponent, which the addition does for us.
  return sign | (((exponent + 15) << 10) + mantissa);
}

/** The number a half-precision bit pattern holds. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
