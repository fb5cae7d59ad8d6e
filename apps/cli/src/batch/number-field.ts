import { DOT, MINUS, NINE, PLUS, SPACE, TAB, ZERO } from './ascii.js';

/** 10^k for k up to 22: every one is exact as a double. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
/** Digits a mantissa may have and stay below 2^53, so that it is exact as a double. */
const MAX_DIGITS = 15;

/**
 * The value of a plain decimal field (`5.1`, ` -0.25 `, `12`) in `bytes[from, to)`, or undefined
 * for anything else (exponents, more than 15 digits, text, nothing), which the caller reads with
 * `Number` instead. Exactly `Number(text)`: a mantissa below 2^53 divided by an exact power of ten
 * is correctly rounded, as Number's own result is (Clinger's fast path).
 */
export function plainNumber(bytes: Uint8Array, from: number, to: number): number | undefined {
  let at = from;
  while (at < to && (bytes[at] === SPACE || bytes[at] === TAB)) at += 1;
  let end = to;
  while (end > at && (bytes[end - 1] === SPACE || bytes[end - 1] === TAB)) end -= 1;
  let negative = false;
  if (bytes[at] === MINUS || bytes[at] === PLUS) {
    negative = bytes[at] === MINUS;
    at += 1;
  }
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let dot = false;
  for (; at < end; at += 1) {
    const byte = bytes[at] as number;
    if (byte >= ZERO && byte <= NINE) {
      mantissa = mantissa * 10 + (byte - ZERO);
      digits += 1;
      if (dot) fraction += 1;
    } else if (byte === DOT && !dot) {
      dot = true;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || digits > MAX_DIGITS) return undefined;
  const value = fraction === 0 ? mantissa : mantissa / (POW10[fraction] as number);
  return negative ? -value : value;
}
