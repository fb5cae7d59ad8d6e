import { ConveyorError } from '../errors.js';
import type { ModelSignature, TensorSpec } from './model-config.js';
import type { TensorInputs } from './predict-request.js';

/** One value of a named feature (a string for a model whose input is of dtype `string`). */
export type FeatureValue = number | boolean | bigint | string;

/** One row of a tabular model given by feature name: `{ sepal_length: 5.1, ... }`. */
export type FeatureRow = Readonly<Record<string, FeatureValue>>;

const isScalar = (value: unknown): value is FeatureValue =>
  typeof value === 'number' ||
  typeof value === 'boolean' ||
  typeof value === 'bigint' ||
  typeof value === 'string';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The rule that tells named features from inputs by name: a plain object with at least one key
 * whose values are all scalars (number, boolean, bigint, string) is one row of named features,
 * unless a key names an input of the model's `signature` and the keys are not all column labels of
 * one of its inputs: then the object holds inputs by name, as `{ sr: 16000 }` does for a model
 * whose input `sr` has shape `[]`.
 */
export function isFeatureRow(
  value: unknown,
  signature?: Pick<ModelSignature, 'inputs'>,
): value is FeatureRow {
  if (!isPlainObject(value)) return false;
  const values = Object.values(value);
  if (values.length === 0 || !values.every(isScalar)) return false;
  if (!signature) return true;
  // Keys that are all column labels of a labelled input are features, even where a label is
  // also the input's name (a one-column input "color" labelled "color").
  const keys = Object.keys(value);
  const labelled = signature.inputs.some((input) => keys.every((k) => input.labels?.includes(k)));
  return labelled || !signature.inputs.some((input) => Object.hasOwn(value, input.name));
}

/** A non-empty array of feature rows: many rows of named features. */
export function isFeatureRows(value: unknown): value is readonly FeatureRow[] {
  return Array.isArray(value) && value.length > 0 && value.every((row) => isFeatureRow(row));
}

/**
 * The input that named features fill: the model's only input, of rank 2, with one label per
 * column. Throws ERR_FEATURES_UNSUPPORTED, saying why, for any other model.
 */
export function featureInput(signature: ModelSignature): TensorSpec & { labels: string[] } {
  const model = `${signature.name}@${signature.version}`;
  const refuse = (why: string): never => {
    throw new ConveyorError(
      'ERR_FEATURES_UNSUPPORTED',
      `${model} does not take named features: ${why}; send its inputs as tensors by name`,
      { details: { model: signature.name, version: signature.version } },
    );
  };
  if (signature.inputs.length !== 1)
    return refuse(`it has ${signature.inputs.length} inputs, named features fill exactly one`);
  const spec = signature.inputs[0] as TensorSpec;
  if (spec.shape.length !== 2)
    return refuse(`its input "${spec.name}" has rank ${spec.shape.length}, not 2 (rows, columns)`);
  const labels = spec.labels;
  if (labels === undefined || labels.length === 0)
    return refuse(`its input "${spec.name}" has no labels in model.json`);
  const columns = spec.shape[1] as number;
  if (columns !== -1 && columns !== labels.length)
    return refuse(`input "${spec.name}" has ${columns} columns but ${labels.length} labels`);
  if (new Set(labels).size !== labels.length)
    return refuse(`the labels of input "${spec.name}" are not unique`);
  return { ...spec, labels };
}

/**
 * Maps one row, or many rows, of named features to the model's single 2-D input, in the order of
 * that input's labels. A missing feature throws ERR_INPUT_MISSING, an unknown one
 * ERR_INPUT_UNEXPECTED; both name the feature and the row. The result goes through `toTensors`
 * like any other inputs, so values are checked against the input's dtype there.
 */
export function featuresToInputs(
  signature: ModelSignature,
  rows: FeatureRow | readonly FeatureRow[],
): TensorInputs {
  const spec = featureInput(signature);
  const list: readonly FeatureRow[] = isFeatureRow(rows) ? [rows] : rows;
  const model = `${signature.name}@${signature.version}`;
  const known = new Set(spec.labels);
  const data = list.map((row, index) => {
    const details = {
      model: signature.name,
      version: signature.version,
      input: spec.name,
      row: index,
    };
    for (const name of Object.keys(row)) {
      if (!known.has(name) && signature.inputs.some((input) => input.name === name)) {
        // `{ features: 'five' }`: a tensor input given a scalar, not a row of named features.
        throw new ConveyorError(
          'ERR_VALIDATION',
          `input "${name}": expected nested arrays of numbers or strings, or { data, shape?, dtype? } with a typed or plain array`,
          { issues: [{ path: `inputs.${name}`, message: 'expected an array or a tensor' }] },
        );
      }
      if (!known.has(name)) {
        throw new ConveyorError(
          'ERR_INPUT_UNEXPECTED',
          `row ${index}: ${model} has no feature "${name}"; its features are ${spec.labels.map((l) => `"${l}"`).join(', ')}`,
          { details: { ...details, feature: name } },
        );
      }
    }
    return spec.labels.map((label) => {
      const value = row[label];
      if (value === undefined) {
        throw new ConveyorError(
          'ERR_INPUT_MISSING',
          `row ${index}: ${model} needs feature "${label}"`,
          { details: { ...details, feature: label } },
        );
      }
      return value;
    });
  });
  return { [spec.name]: { data, dtype: spec.dtype } };
}
