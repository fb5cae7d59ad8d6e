import { ConveyorError } from './errors.js';
import type { ModelSignature, TensorSpec } from './schemas/model-config.js';
import type { Dtype } from './tensor/dtype.js';

const showShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Whether a concrete shape fits a spec's shape, where -1 matches any size. */
export function shapeMatches(spec: readonly number[], shape: readonly number[]): boolean {
  return spec.length === shape.length && spec.every((d, i) => d === -1 || d === shape[i]);
}

/** Whether the signature declares an input of that name. */
function hasInput(signature: ModelSignature, name: string): boolean {
  for (const spec of signature.inputs) if (spec.name === name) return true;
  return false;
}

/** Why a tensor does not fit its input's spec: missing, of another dtype, or of another shape. */
function inputMismatch(
  signature: ModelSignature,
  spec: TensorSpec,
  tensor: { dtype: Dtype; shape: readonly number[] } | undefined,
): ConveyorError {
  const model = `${signature.name}@${signature.version}`;
  const details = { model: signature.name, version: signature.version, input: spec.name };
  if (tensor === undefined) {
    return new ConveyorError(
      'ERR_INPUT_MISSING',
      `${model} needs input "${spec.name}" (${spec.dtype} ${showShape(spec.shape)})`,
      { details },
    );
  }
  if (tensor.dtype !== spec.dtype) {
    return new ConveyorError(
      'ERR_INPUT_DTYPE',
      `input "${spec.name}" of ${model} must be ${spec.dtype}, got ${tensor.dtype}`,
      { details: { ...details, expected: spec.dtype, actual: tensor.dtype } },
    );
  }
  return new ConveyorError(
    'ERR_INPUT_SHAPE',
    `input "${spec.name}" of ${model} must have shape ${showShape(spec.shape)} (-1 is any size), got ${showShape(tensor.shape)}`,
    { details: { ...details, expected: spec.shape, actual: [...tensor.shape] } },
  );
}

/**
 * Checks a request's tensors (names, dtypes, shapes) and requested outputs against a model's
 * signature, and returns the output names to compute. Each kind of mismatch has its own code,
 * and the message names the tensor and what was expected.
 */
export function checkRequest(
  signature: ModelSignature,
  inputs: Readonly<Record<string, { dtype: Dtype; shape: readonly number[] }>>,
  outputs?: readonly string[],
): string[] {
  // Checked once per request: nothing is allocated unless something is wrong.
  for (const spec of signature.inputs) {
    const tensor = inputs[spec.name];
    if (
      tensor === undefined ||
      tensor.dtype !== spec.dtype ||
      !shapeMatches(spec.shape, tensor.shape)
    )
      throw inputMismatch(signature, spec, tensor);
  }
  for (const name in inputs) {
    if (Object.hasOwn(inputs, name) && !hasInput(signature, name)) {
      const model = `${signature.name}@${signature.version}`;
      throw new ConveyorError(
        'ERR_INPUT_UNEXPECTED',
        `${model} has no input "${name}"; its inputs are ${signature.inputs.map((s) => `"${s.name}"`).join(', ')}`,
        { details: { model: signature.name, version: signature.version, input: name } },
      );
    }
  }
  const available = signature.outputs.map((s) => s.name);
  if (outputs === undefined) return available;
  for (const name of outputs) {
    if (!available.includes(name)) {
      const model = `${signature.name}@${signature.version}`;
      throw new ConveyorError(
        'ERR_OUTPUT_UNKNOWN',
        `${model} has no output "${name}"; its outputs are ${available.map((n) => `"${n}"`).join(', ')}`,
        { details: { model: signature.name, version: signature.version, output: name } },
      );
    }
  }
  return [...new Set(outputs)];
}
