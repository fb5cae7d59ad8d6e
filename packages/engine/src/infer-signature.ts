import type { ModelConfigInput, ModelSignature, TensorSpec, WarmupSample } from '@conveyor/shared';
import type { ServedModel } from './served-model.js';
import type { RuntimeSignature } from './signature.js';
import { planWarmup } from './warm-up.js';

/**
 * True when every input and output has a free first dimension (symbolic or unknown in the model,
 * and not fixed by model.json): that axis is the batch, along which requests can be joined.
 */
export function hasBatchAxis(signature: ModelSignature): boolean {
  return [...signature.inputs, ...signature.outputs].every(
    (spec) => spec.shape.length > 0 && spec.shape[0] === -1,
  );
}

/** Whether an input has a free dimension onnxruntime gives no name, which `warmup.dims` cannot size. */
function hasUnnamedFreeDim(spec: TensorSpec, runtime: RuntimeSignature): boolean {
  const names = runtime.inputs.find((r) => r.name === spec.name)?.runtimeShape ?? [];
  return spec.shape.some((dim, axis) => dim === -1 && typeof names[axis] !== 'string');
}

function warmupOf(served: ServedModel): boolean | WarmupSample {
  const { warmup } = served.entry.config;
  if (warmup === false) return false;
  const { plan } = planWarmup(served.signature, served.runtime, warmup);
  const inputs: NonNullable<WarmupSample['inputs']> = {
    ...(typeof warmup === 'object' ? warmup.inputs : {}),
  };
  for (const spec of served.signature.inputs) {
    const shape = plan.inputs[spec.name]?.shape;
    if (!inputs[spec.name] && shape && hasUnnamedFreeDim(spec, served.runtime))
      inputs[spec.name] = { shape };
  }
  const dims = Object.keys(plan.dims).length > 0 ? { ...plan.dims } : undefined;
  if (dims === undefined && Object.keys(inputs).length === 0) return true;
  return { ...(dims && { dims }), ...(Object.keys(inputs).length > 0 && { inputs }) };
}

/**
 * The model.json that spells out what Conveyor does with a served version: every input and
 * output with its dtype and shape, batching, and the warm-up sample. Serving the version with it
 * gives the same signature; `conveyor models init` writes it for people to read and edit.
 */
export function inferredConfig(served: ServedModel): ModelConfigInput {
  const { config } = served.entry;
  return {
    ...(config.description !== undefined && { description: config.description }),
    ...(config.file !== 'model.onnx' && { file: config.file }),
    inputs: served.signature.inputs.map((s) => ({ ...s, shape: [...s.shape] })),
    outputs: served.signature.outputs.map((s) => ({ ...s, shape: [...s.shape] })),
    batching: served.batchable ? { ...config.batching } : false,
    ...(config.threads !== undefined && { threads: config.threads }),
    ...(config.concurrency !== undefined && { concurrency: config.concurrency }),
    warmup: warmupOf(served),
  };
}
