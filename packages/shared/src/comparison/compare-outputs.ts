import { halfToNumber } from '../tensor/half-float.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * How one output of two answers to the same request differ. Class outputs (labels: integers,
 * strings, booleans; scores: floats whose last dimension has more than one element) count the
 * slices whose top class is the same; float outputs also give the largest absolute and relative
 * difference of their elements.
 */
export interface OutputComparison {
  name: string;
  /** Class slices compared (rows of a [N, C] score output, elements of a label output). */
  units: number;
  /** Of those, the slices whose top class is the same on both sides. */
  agree: number;
  /** Float elements compared (both sides a number, neither NaN); 0 for other dtypes. */
  elements: number;
  /** Largest |serving - candidate| over the float elements. */
  maxAbs: number;
  /** Largest |serving - candidate| / max(|serving|, |candidate|) (0 where both are 0). */
  maxRel: number;
  /** Sum of |serving - candidate| over the float elements, for a mean. */
  sumAbs: number;
  /** 1 when the two sides differ in dtype or shape (every unit then disagrees), else 0. */
  mismatched: number;
  /** Whether agreement means anything for this output (labels or score rows). */
  classes: boolean;
}

const FLOATS = new Set(['float16', 'float32', 'float64']);

/** Element `i` of a float tensor as a number (float16 elements are stored as their bits). */
function floatAt(tensor: Tensor, i: number): number {
  const value = (tensor.data as ArrayLike<number>)[i] as number;
  return tensor.dtype === 'float16' ? halfToNumber(value) : value;
}

/** Index of the largest element of a slice (the first one on ties); NaN never wins. */
function argmax(tensor: Tensor, start: number, width: number): number {
  let best = -1;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < width; i += 1) {
    const value = floatAt(tensor, start + i);
    if (value > bestValue || best === -1) {
      best = i;
      bestValue = Number.isNaN(value) ? Number.NEGATIVE_INFINITY : value;
    }
  }
  return best;
}

/** Whether element `i` is the same on both sides (bytes compared by content). */
function sameElement(a: Tensor, b: Tensor, i: number): boolean {
  const x = (a.data as ArrayLike<unknown>)[i];
  const y = (b.data as ArrayLike<unknown>)[i];
  if (x instanceof Uint8Array && y instanceof Uint8Array) return Buffer.from(x).equals(y);
  return x === y;
}

const elementsOf = (t: Tensor): number => t.shape.reduce((n, d) => n * d, 1);

/** Compares one output of the serving and the candidate answer; see OutputComparison. */
export function compareOutput(name: string, serving: Tensor, candidate: Tensor): OutputComparison {
  const float = FLOATS.has(serving.dtype);
  const total = elementsOf(serving);
  const width = serving.shape.length >= 2 ? (serving.shape.at(-1) ?? 1) : 1;
  const classes = !float || width > 1;
  const units = classes ? (width > 0 ? total / width : 0) : 0;
  const result: OutputComparison = {
    name,
    units,
    agree: 0,
    elements: 0,
    maxAbs: 0,
    maxRel: 0,
    sumAbs: 0,
    mismatched: 0,
    classes,
  };
  const sameShape =
    serving.dtype === candidate.dtype &&
    serving.shape.length === candidate.shape.length &&
    serving.shape.every((d, i) => d === candidate.shape[i]);
  if (!sameShape) return { ...result, mismatched: 1 };
  if (float) {
    for (let i = 0; i < total; i += 1) {
      const a = floatAt(serving, i);
      const b = floatAt(candidate, i);
      if (Number.isNaN(a) || Number.isNaN(b)) continue;
      const abs = Math.abs(a - b);
      const scale = Math.max(Math.abs(a), Math.abs(b));
      const rel = scale === 0 ? 0 : abs / scale;
      result.elements += 1;
      result.sumAbs += abs;
      if (abs > result.maxAbs) result.maxAbs = abs;
      if (rel > result.maxRel) result.maxRel = rel;
    }
  }
  for (let u = 0; u < units; u += 1) {
    const start = u * width;
    if (float) {
      if (argmax(serving, start, width) === argmax(candidate, start, width)) result.agree += 1;
      continue;
    }
    let same = true;
    for (let i = start; i < start + width && same; i += 1)
      same = sameElement(serving, candidate, i);
    if (same) result.agree += 1;
  }
  return result;
}

/**
 * Compares two answers to the same request, output by output (the outputs both have, by name).
 * Pure: the shadow observer and replay both use it, so their reports mean the same.
 */
export function compareOutputs(
  serving: Readonly<Record<string, Tensor>>,
  candidate: Readonly<Record<string, Tensor>>,
): OutputComparison[] {
  return Object.keys(serving)
    .filter((name) => candidate[name] !== undefined)
    .sort()
    .map((name) => compareOutput(name, serving[name] as Tensor, candidate[name] as Tensor));
}
