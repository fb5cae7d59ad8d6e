import type { PredictOptions } from '@conveyor/sdk';
import { valueOutOfRange, type NestedArray, type TensorInputs } from '@conveyor/shared';
import { toSdkInputs } from '../oip/tensors.js';
import type { InferInput } from '../oip/schemas.js';
import type { JobInputs, JobParameters } from './jobs-schemas.js';

/**
 * Refuses a number that parsed to ±Infinity: JSON has none, so it was a literal past every float
 * (`1e400`), which the SDK would otherwise take as an Infinity the caller never sent.
 */
function assertFiniteJson(name: string, value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) assertFiniteJson(name, item);
  } else if (value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY) {
    throw valueOutOfRange(name, 'an element', value, 'float64', 'finite JSON numbers');
  }
}

/**
 * Converts `/v1` inputs to SDK inputs: protocol tensors go through the `/v2` converter (datatype,
 * element and shape checks, size limit before reading data); bare nested arrays and bare values go
 * to the SDK as they are, which checks every element and reads them in the dtype the model
 * declares where that loses nothing. A BYTES tensor of an upload takes its bytes from `binary`.
 */
export function toJobInputs(
  inputs: JobInputs,
  maxTensorBytes: number,
  /** The bytes of inputs with `parameters.binary_data_size` (uploaded files), in input order. */
  binary?: Buffer,
): TensorInputs {
  const tensors: InferInput[] = [];
  const converted: Record<string, TensorInputs[string]> = {};
  for (const [name, input] of Object.entries(inputs)) {
    if (Array.isArray(input) || typeof input !== 'object') assertFiniteJson(name, input);
    if (Array.isArray(input)) converted[name] = input as NestedArray;
    else if (typeof input !== 'object') converted[name] = input;
    else tensors.push({ name, ...input });
  }
  return { ...converted, ...toSdkInputs(tensors, maxTensorBytes, binary) };
}

/** The SDK options a job's parameters (and Idempotency-Key) ask for. */
export function toPredictOptions(
  parameters: JobParameters | undefined,
  idempotencyKey: string | undefined,
): PredictOptions {
  const options: PredictOptions = {};
  if (parameters?.version !== undefined) options.version = parameters.version;
  if (parameters?.outputs !== undefined) options.outputs = parameters.outputs;
  if (parameters?.priority !== undefined) options.priority = parameters.priority;
  if (parameters?.deadline !== undefined) options.deadline = parameters.deadline;
  if (idempotencyKey !== undefined) options.idempotencyKey = idempotencyKey;
  return options;
}
