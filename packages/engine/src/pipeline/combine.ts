/**
 * @file An ensemble's `combine` step: joins several float tensors into one, element-wise (mean,
 * max, min, sum) or side by side on the last axis (concat).
 */
import { ConveyorError, createTensor, type Tensor } from '@conveyor/shared';

export type CombineOp = 'mean' | 'max' | 'min' | 'sum' | 'concat';

type Floats = Float32Array | Float64Array;

function floatsOf(tensor: Tensor, step: string, k: number): Floats {
  if (tensor.dtype !== 'float32' && tensor.dtype !== 'float64')
    throw new ConveyorError(
      'ERR_MODEL_CONFIG_INVALID',
      `combine step "${step}": source ${k + 1} is ${tensor.dtype}; it joins float32 or float64 tensors`,
    );
  return tensor.data as Floats;
}

const shapeText = (t: Tensor) => `${t.dtype} [${t.shape.join(', ')}]`;

function mismatch(step: string, what: string, tensors: readonly Tensor[]): ConveyorError {
  return new ConveyorError(
    'ERR_MODEL_CONFIG_INVALID',
    `combine step "${step}" needs ${what}; its sources are ${tensors.map(shapeText).join(', ')}`,
  );
}

function elementWise(
  op: Exclude<CombineOp, 'concat'>,
  data: Floats[],
  weights?: readonly number[],
) {
  const out = new (data[0]!.constructor as typeof Float64Array)(data[0]!.length);
  const total = weights ? weights.reduce((a, b) => a + b, 0) : data.length;
  for (let i = 0; i < out.length; i++) {
    let value = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
    for (let k = 0; k < data.length; k++) {
      const v = data[k]![i]!;
      if (op === 'max') value = Math.max(value, v);
      else if (op === 'min') value = Math.min(value, v);
      else value += op === 'mean' && weights ? v * weights[k]! : v;
    }
    out[i] = op === 'mean' ? value / total : value;
  }
  return out;
}

function concat(data: Floats[], tensors: readonly Tensor[]): { data: Floats; last: number } {
  const widths = tensors.map((t) => t.shape.at(-1) ?? 1);
  const last = widths.reduce((a, b) => a + b, 0);
  const rows = data[0]!.length / widths[0]!;
  const out = new (data[0]!.constructor as typeof Float64Array)(rows * last);
  for (let r = 0; r < rows; r++) {
    let at = r * last;
    data.forEach((d, k) => {
      out.set(d.subarray(r * widths[k]!, (r + 1) * widths[k]!), at);
      at += widths[k]!;
    });
  }
  return { data: out, last };
}

/** Joins `tensors` (two or more) by `op`; `weights` weigh a mean. */
export function combineTensors(
  step: string,
  op: CombineOp,
  tensors: readonly Tensor[],
  maxTensorBytes: number,
  weights?: readonly number[],
): Tensor {
  const data = tensors.map((t, k) => floatsOf(t, step, k));
  const first = tensors[0]!;
  if (tensors.some((t) => t.dtype !== first.dtype)) throw mismatch(step, 'one dtype', tensors);
  const where = `combine step "${step}"`;
  if (op !== 'concat') {
    if (tensors.some((t) => t.shape.join() !== first.shape.join()))
      throw mismatch(step, 'one shape', tensors);
    return createTensor(
      first.dtype,
      first.shape,
      elementWise(op, data, weights),
      maxTensorBytes,
      where,
    );
  }
  const lead = (t: Tensor) => t.shape.slice(0, -1).join();
  if (
    first.shape.length < 1 ||
    tensors.some((t) => t.shape.length !== first.shape.length || lead(t) !== lead(first))
  )
    throw mismatch(step, 'the same dimensions but the last', tensors);
  const joined = concat(data, tensors);
  return createTensor(
    first.dtype,
    [...first.shape.slice(0, -1), joined.last],
    joined.data,
    maxTensorBytes,
    where,
  );
}
