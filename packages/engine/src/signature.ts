import {
  DTYPES,
  type Dtype,
  type ModelConfig,
  type ModelSignature,
  type TensorOverride,
  type TensorSpec,
} from '@conveyor/shared';
import type { ModelIssue } from './model-problem.js';
import type { RuntimeTensorSpec } from './session.js';

/** A model's inputs and outputs as onnxruntime reports them. */
export interface RuntimeSignature {
  readonly inputs: readonly RuntimeTensorSpec[];
  readonly outputs: readonly RuntimeTensorSpec[];
}

/** The signature requests are checked against, and every problem found on the way. */
export interface SignatureCheck {
  readonly signature: ModelSignature;
  readonly issues: readonly ModelIssue[];
}

type Kind = 'input' | 'output';

const isDtype = (type: string): type is Dtype => (DTYPES as readonly string[]).includes(type);
const show = (dims: readonly (number | string)[]) => `[${dims.join(', ')}]`;

/** The shape model.json gives, checked against the model's: rank and fixed dimensions. */
function mergeShape(
  kind: Kind,
  given: readonly number[],
  runtime: RuntimeTensorSpec,
  fail: (field: string, message: string) => void,
): number[] {
  // onnxruntime reports [] when the model does not declare a shape; then model.json decides.
  if (runtime.shape.length === 0) return [...given];
  if (given.length !== runtime.shape.length) {
    fail(
      'shape',
      `model.json ${kind} "${runtime.name}" has rank ${given.length} ${show(given)} but the model's has rank ${runtime.shape.length} ${show(runtime.runtimeShape)}: give ${runtime.shape.length} dimensions, or remove shape to use the model's`,
    );
    return [...runtime.shape];
  }
  return given.map((dim, axis) => {
    const fixed = runtime.shape[axis] ?? -1;
    if (fixed !== -1 && dim !== -1 && dim !== fixed) {
      fail(
        'shape',
        `model.json ${kind} "${runtime.name}" has dimension ${axis} of ${dim} but the model fixes it to ${fixed}: change it to ${fixed} or -1, or remove shape to use the model's`,
      );
    }
    return fixed !== -1 ? fixed : dim;
  });
}

/** One tensor: what onnxruntime reports, with what model.json says about it. */
function mergeSpec(
  kind: Kind,
  runtime: RuntimeTensorSpec,
  override: { spec: TensorOverride; index: number } | undefined,
  issues: ModelIssue[],
): TensorSpec | undefined {
  if (!isDtype(runtime.dtype)) {
    issues.push({
      code: 'ERR_MODEL_UNAVAILABLE',
      path: `model ${kind} "${runtime.name}"`,
      message: `the model's ${kind} "${runtime.name}" is of type ${runtime.dtype}, which Conveyor cannot carry: re-export the model so that it is a tensor (numeric, bool or string)`,
    });
    return undefined;
  }
  const given = override?.spec;
  const fail = (field: string, message: string) =>
    issues.push({
      code: 'ERR_MODEL_UNAVAILABLE',
      path: `model.json ${kind}s.${override?.index ?? 0}.${field}`,
      message,
    });
  if (given?.dtype !== undefined && given.dtype !== runtime.dtype) {
    fail(
      'dtype',
      `model.json ${kind} "${runtime.name}" is ${given.dtype} but the model's is ${runtime.dtype}: change dtype to ${runtime.dtype} or remove it to use the model's`,
    );
  }
  const shape =
    given?.shape === undefined ? [...runtime.shape] : mergeShape(kind, given.shape, runtime, fail);
  const last = shape[shape.length - 1];
  if (given?.labels && last !== undefined && last !== -1 && given.labels.length !== last) {
    fail(
      'labels',
      `model.json ${kind} "${runtime.name}" has ${given.labels.length} labels but its last dimension is ${last}: give one label per entry`,
    );
  }
  return {
    name: runtime.name,
    dtype: runtime.dtype,
    shape,
    ...(given?.labels !== undefined && { labels: given.labels }),
    ...(given?.description !== undefined && { description: given.description }),
  };
}

function mergeList(
  kind: Kind,
  overrides: readonly TensorOverride[],
  runtime: RuntimeSignature,
  issues: ModelIssue[],
): TensorSpec[] {
  const own = kind === 'input' ? runtime.inputs : runtime.outputs;
  const other = kind === 'input' ? runtime.outputs : runtime.inputs;
  overrides.forEach((spec, index) => {
    if (own.some((r) => r.name === spec.name)) return;
    const hint = other.some((r) => r.name === spec.name)
      ? `it is an ${kind === 'input' ? 'output' : 'input'} of the model: move the entry`
      : `the model's ${kind}s are ${own.map((r) => `"${r.name}"`).join(', ')}: rename the entry or remove it`;
    issues.push({
      code: 'ERR_MODEL_UNAVAILABLE',
      path: `model.json ${kind}s.${index}.name`,
      message: `model.json declares ${kind} "${spec.name}", which the model does not have; ${hint}`,
    });
  });
  return own.flatMap((r) => {
    const index = overrides.findIndex((o) => o.name === r.name);
    const override = index === -1 ? undefined : { spec: overrides[index] as TensorOverride, index };
    return mergeSpec(kind, r, override, issues) ?? [];
  });
}

/**
 * The signature of a model version: every input and output as onnxruntime reports it (names,
 * dtypes, ranks, fixed and free dimensions), with what model.json adds (labels, descriptions) or
 * narrows (it may fix a dimension the model leaves free, never the reverse). Each contradiction
 * of model.json with the model is an issue that says how to fix it; all are returned at once.
 */
export function reconcileSignature(
  model: { name: string; version: string; config: Pick<ModelConfig, 'inputs' | 'outputs'> },
  runtime: RuntimeSignature,
): SignatureCheck {
  const issues: ModelIssue[] = [];
  const signature: ModelSignature = {
    name: model.name,
    version: model.version,
    inputs: mergeList('input', model.config.inputs, runtime, issues),
    outputs: mergeList('output', model.config.outputs, runtime, issues),
  };
  return { signature, issues };
}
