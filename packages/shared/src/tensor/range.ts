import { ConveyorError } from '../errors.js';
import type { Dtype } from './dtype.js';
import { numberToHalf } from './half-float.js';

type FloatDtype = 'float16' | 'float32' | 'float64';

/** The largest finite value of each float dtype. */
const FLOAT_MAX: { readonly [D in FloatDtype]: number } = {
  float16: 65_504,
  float32: 3.4028234663852886e38,
  float64: Number.MAX_VALUE,
};

/**
 * The element of a float dtype that a number is stored as: the number itself for float64, float32's
 * rounding, float16's bits; throws ERR_INPUT_VALUE when a finite number would become ±Infinity
 * (`1e39` as float32). NaN and ±Infinity given as such are kept. The one range check of floats,
 * for every road into a tensor (SDK values, OIP JSON data, `/v1` inputs).
 */
export function toFloatElement(
  dtype: FloatDtype,
  value: number,
  input: string,
  /** Names the element's position, for the error only. */
  element: () => string,
): number {
  const stored =
    dtype === 'float16' ? numberToHalf(value) : dtype === 'float32' ? Math.fround(value) : value;
  const overflowed = dtype === 'float16' ? (stored & 0x7fff) === 0x7c00 : !Number.isFinite(stored);
  if (overflowed && Number.isFinite(value))
    throw valueOutOfRange(
      input,
      element(),
      value,
      dtype,
      `-${FLOAT_MAX[dtype]} to ${FLOAT_MAX[dtype]}`,
    );
  return stored;
}

/**
 * ERR_INPUT_VALUE: a value of the right kind that `dtype` cannot hold (a float past its largest
 * finite value, an integer out of its range). `element` names its position (`element [0, 1]`).
 */
export function valueOutOfRange(
  input: string,
  element: string,
  value: number | bigint,
  dtype: Dtype,
  allowed: string,
): ConveyorError {
  return new ConveyorError(
    'ERR_INPUT_VALUE',
    `input "${input}": ${element} (${String(value)}) is out of range; ${dtype} takes ${allowed}`,
    { details: { input, element, dtype } },
  );
}
