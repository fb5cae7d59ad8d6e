import {
  ConveyorError,
  type ModelConfig,
  type ModelSignature,
  type TensorSpec,
} from '@conveyor/shared';
import type { RuntimeTensorSpec } from './session.js';

function reconcileOne(
  kind: 'input' | 'output',
  spec: TensorSpec,
  runtime: RuntimeTensorSpec,
  where: string,
): TensorSpec {
  const fail = (what: string): never => {
    throw new ConveyorError(
      'ERR_MODEL_UNAVAILABLE',
      `${where}: model.json ${kind} "${spec.name}" ${what}`,
      {
        details: {
          tensor: spec.name,
          runtime: { dtype: runtime.dtype, shape: runtime.runtimeShape },
        },
      },
    );
  };
  if (spec.dtype !== runtime.dtype) fail(`is ${spec.dtype} but the model's is ${runtime.dtype}`);
  // onnxruntime reports [] when the model does not declare a shape; then model.json decides.
  if (runtime.shape.length === 0) return spec;
  if (spec.shape.length !== runtime.shape.length) {
    fail(
      `has rank ${spec.shape.length} but the model's has rank ${runtime.shape.length} [${runtime.runtimeShape.join(', ')}]`,
    );
  }
  const shape = spec.shape.map((dim, axis) => {
    const fixed = runtime.shape[axis] ?? -1;
    if (fixed !== -1 && dim !== -1 && dim !== fixed) {
      fail(`dimension ${axis} is ${dim} but the model fixes it to ${fixed}`);
    }
    return fixed !== -1 ? fixed : dim;
  });
  return { ...spec, shape };
}

function reconcileList(
  kind: 'input' | 'output',
  specs: readonly TensorSpec[],
  runtime: readonly RuntimeTensorSpec[],
  where: string,
): TensorSpec[] {
  const byName = new Map(runtime.map((r) => [r.name, r]));
  for (const r of runtime) {
    if (!specs.some((s) => s.name === r.name)) {
      throw new ConveyorError(
        'ERR_MODEL_UNAVAILABLE',
        `${where}: the model has ${kind} "${r.name}" (${r.dtype} [${r.runtimeShape.join(', ')}]) that model.json does not declare`,
      );
    }
  }
  return specs.map((spec) => {
    const match = byName.get(spec.name);
    if (!match) {
      throw new ConveyorError(
        'ERR_MODEL_UNAVAILABLE',
        `${where}: model.json declares ${kind} "${spec.name}" but the model's ${kind}s are ${runtime.map((r) => `"${r.name}"`).join(', ')}`,
      );
    }
    return reconcileOne(kind, spec, match, where);
  });
}

/**
 * Checks model.json against the signature onnxruntime reports (names, dtypes, ranks, fixed
 * dims) and returns the signature requests are checked against: model.json may fix a dimension
 * the model leaves free, never the reverse.
 */
export function reconcileSignature(
  config: ModelConfig,
  version: string,
  runtime: { inputs: readonly RuntimeTensorSpec[]; outputs: readonly RuntimeTensorSpec[] },
  where: string,
): ModelSignature {
  return {
    name: config.name,
    version,
    inputs: reconcileList('input', config.inputs, runtime.inputs, where),
    outputs: reconcileList('output', config.outputs, runtime.outputs, where),
  };
}
