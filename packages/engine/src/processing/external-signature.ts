import type { ModelSignature } from '@conveyor/shared';
import type { Processor } from './processor.js';

/** Marks the raw outputs listed beside a processed version's own. */
export const RAW_OUTPUT_NOTE = 'raw model output: returned only when asked for by name';

/**
 * The signature clients see for a processed version: the steps' external inputs, then the model
 * inputs no step feeds; the steps' outputs, then the model's raw outputs (those whose name no
 * step output takes), which a request gets only by naming them. `defaultOutputs` are what a
 * request that names none gets: the steps' outputs, or every output when there are none.
 */
export function externalSignature(
  signature: ModelSignature,
  processor: Processor,
): { signature: ModelSignature; defaultOutputs: string[] | undefined } {
  const inputs = [
    ...processor.inputs,
    ...signature.inputs.filter((spec) => !processor.fed.has(spec.name)),
  ];
  const { added } = processor;
  if (processor.outputs.length === 0) {
    const outputs = [...signature.outputs, ...added];
    return { signature: { ...signature, inputs, outputs }, defaultOutputs: undefined };
  }
  const taken = new Set(processor.outputs.map((o) => o.name));
  const raw = signature.outputs
    .filter((spec) => !taken.has(spec.name))
    .map((spec) => ({
      ...spec,
      description: spec.description ? `${RAW_OUTPUT_NOTE}. ${spec.description}` : RAW_OUTPUT_NOTE,
    }));
  return {
    signature: { ...signature, inputs, outputs: [...processor.outputs, ...added, ...raw] },
    defaultOutputs: [...processor.outputs, ...added].map((o) => o.name),
  };
}
