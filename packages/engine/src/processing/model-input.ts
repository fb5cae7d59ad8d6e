import { ConveyorError } from '@conveyor/shared';
import type { RuntimeTensorSpec } from '../session.js';
import type { ModelIo } from './step.js';

/**
 * The model input an input step fills: `input`, or the model's only input; checked for the dtype
 * and rank the step writes. Throws ERR_MODEL_CONFIG_INVALID naming the step.
 */
export function modelInput(
  step: string,
  input: string | undefined,
  model: ModelIo,
  dtype?: string,
  rank?: number,
): RuntimeTensorSpec {
  const fail = (message: string): never => {
    throw new ConveyorError('ERR_MODEL_CONFIG_INVALID', `preprocess "${step}": ${message}`, {
      details: { step },
    });
  };
  const names = model.inputs.map((i) => `"${i.name}"`).join(', ');
  const spec =
    input === undefined
      ? model.inputs.length === 1
        ? model.inputs[0]
        : fail(`the model has inputs ${names}: name one in "input"`)
      : model.inputs.find((i) => i.name === input);
  if (!spec) return fail(`the model has no input "${String(input)}"; its inputs are ${names}`);
  if (dtype !== undefined && spec.dtype !== dtype)
    fail(`input "${spec.name}" is ${spec.dtype}, the step writes ${dtype}`);
  if (rank !== undefined && spec.shape.length !== 0 && spec.shape.length !== rank)
    fail(`input "${spec.name}" has rank ${spec.shape.length}, the step writes rank ${rank}`);
  return spec;
}
