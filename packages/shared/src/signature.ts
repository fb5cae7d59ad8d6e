import { ConveyorError } from './errors.js';
import type { ModelSignature, TensorSpec } from './schemas/model-config.js';
import type { Dtype } from './tensor/dtype.js';

const showShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Whether a concrete shape fits a spec's shape, where -1 matches any size. */
export function shapeMatches(spec: readonly number[], shape: readonly number[]): boolean {
  return spec.length === shape.length && spec.every((d, i) => d === -1 || d === shape[i]);
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
  const model = `${signature.name}@${signature.version}`;
  const expected = new Map<string, TensorSpec>(signature.inputs.map((s) => [s.name, s]));
  for (const spec of signature.inputs) {
    const tensor = inputs[spec.name];
    const details = { model: signature.name, version: signature.version, input: spec.name };
    if (tensor === undefined) {
      throw new ConveyorError(
        'ERR_INPUT_MISSING',
        `${model} needs input "${spec.name}" (${spec.dtype} ${showShape(spec.shape)})`,
        {
          details,
        },
      );
    }
    if (tensor.dtype !== spec.dtype) {
      throw new ConveyorError(
        'ERR_INPUT_DTYPE',
        `input "${spec.name}" of ${model} must be ${spec.dtype}, got ${tensor.dtype}`,
        {
          details: { ...details, expected: spec.dtype, actual: tensor.dtype },
        },
      );
    }
    if (!shapeMatches(spec.shape, tensor.shape)) {
      throw new ConveyorError(
        'ERR_INPUT_SHAPE',
        `input "${spec.name}" of ${model} must have shape ${showShape(spec.shape)} (-1 is any size), got ${showShape(tensor.shape)}`,
        { details: { ...details, expected: spec.shape, actual: [...tensor.shape] } },
      );
    }
  }
  for (const name of Object.keys(inputs)) {
    if (!expected.has(name)) {
      throw new ConveyorError(
        'ERR_INPUT_UNEXPECTED',
        `${model} has no input "${name}"; its inputs are ${[...expected.keys()].map((n) => `"${n}"`).join(', ')}`,
        { details: { model: signature.name, version: signature.version, input: name } },
      );
    }
  }
  const available = signature.outputs.map((s) => s.name);
  if (outputs === undefined) return available;
  for (const name of outputs) {
    if (!available.includes(name)) {
      throw new ConveyorError(
        'ERR_OUTPUT_UNKNOWN',
        `${model} has no output "${name}"; its outputs are ${available.map((n) => `"${n}"`).join(', ')}`,
        { details: { model: signature.name, version: signature.version, output: name } },
      );
    }
  }
  return [...new Set(outputs)];
}
