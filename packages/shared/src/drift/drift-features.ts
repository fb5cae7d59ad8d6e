import type { TensorSpec } from '../schemas/model-config.js';
import type { Preprocess } from '../schemas/processing.js';
import { elementAt, type Tensor } from '../tensor/tensor.js';

/**
 * Where one input feature's values are read from a request: a column of a numeric input of rank 1
 * or 2 (`rank 1`: the whole input is one column), or a numeric or boolean field of the records of
 * a `record` preprocessing input.
 */
export type FeatureSource =
  | { name: string; input: string; kind: 'column'; column: number; width: number }
  | { name: string; input: string; kind: 'field'; field: string };

const NUMERIC = /^(float|int|uint|bool)/;

/**
 * The input features drift is measured on, by name, for a version's external inputs: the numeric
 * and boolean fields of a `record` step by field name; each column of a numeric input of shape
 * `[-1, F]` by its label when model.json labels all F columns, else as `<input>[<index>]`; a
 * numeric input of shape `[-1]` by its own name. Other inputs (images, text, larger ranks) have
 * no features here.
 */
export function driftFeatures(
  inputs: readonly TensorSpec[],
  preprocess?: Preprocess,
): FeatureSource[] {
  const features: FeatureSource[] = [];
  for (const spec of inputs) {
    const step = preprocess?.[spec.name];
    if (step?.kind === 'record') {
      for (const field of step.fields) {
        if (field.type !== 'category')
          features.push({ name: field.name, input: spec.name, kind: 'field', field: field.name });
      }
      continue;
    }
    if (step || !NUMERIC.test(spec.dtype)) continue;
    if (spec.shape.length === 1) {
      features.push({ name: spec.name, input: spec.name, kind: 'column', column: 0, width: 1 });
      continue;
    }
    const width = spec.shape[1] ?? -1;
    if (spec.shape.length !== 2 || width < 1) continue;
    const labels = spec.labels?.length === width ? spec.labels : undefined;
    for (let column = 0; column < width; column++) {
      const name = labels?.[column] ?? `${spec.name}[${column}]`;
      features.push({ name, input: spec.name, kind: 'column', column, width });
    }
  }
  return features;
}

function parsed(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Calls `visit(i, value)` for every value of every row of `features[i]` in `inputs`. Missing
 * inputs, unreadable records and non-numeric values are skipped, never thrown.
 */
export function visitFeatureValues(
  features: readonly FeatureSource[],
  inputs: Readonly<Record<string, Tensor>>,
  visit: (feature: number, value: number) => void,
): void {
  const records = new Map<string, (Record<string, unknown> | undefined)[]>();
  features.forEach((feature, index) => {
    const tensor = inputs[feature.input];
    if (!tensor) return;
    if (feature.kind === 'column') {
      if (tensor.data.length % feature.width !== 0) return;
      for (let i = feature.column; i < tensor.data.length; i += feature.width) {
        const value = elementAt(tensor, i);
        if (Number.isFinite(value)) visit(index, value);
      }
      return;
    }
    let rows = records.get(feature.input);
    if (!rows) {
      rows = Array.from(tensor.data as ArrayLike<unknown>, parsed);
      records.set(feature.input, rows);
    }
    for (const row of rows) {
      const value = row?.[feature.field];
      if (typeof value === 'number' && Number.isFinite(value)) visit(index, value);
      else if (typeof value === 'boolean') visit(index, value ? 1 : 0);
    }
  });
}
