/**
 * @file A pipeline version's signature and served record, from its model.json alone: what
 * `inspectVersion` reports for a pipeline and what `loadPipeline` serves.
 */
import { ConveyorError, type Pipeline, type TensorSpec } from '@conveyor/shared';
import type { ModelEntry } from '../model-repository.js';
import type { ServedModel } from '../served-model.js';
import type { RuntimeTensorSpec } from '../session.js';

/** The external inputs and outputs of a pipeline: an ensemble declares them, OCR's are fixed. */
export function pipelineSignature(pipeline: Pipeline): {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
} {
  if (pipeline.kind === 'ensemble')
    return {
      inputs: pipeline.inputs.map((spec) => ({ ...spec, shape: [...spec.shape] })),
      outputs: pipeline.outputs.map(({ from: _from, ...spec }) => ({
        ...spec,
        shape: [...spec.shape],
      })),
    };
  return OCR_SIGNATURE(pipeline.input);
}

const OCR_SIGNATURE = (input: string): { inputs: TensorSpec[]; outputs: TensorSpec[] } => ({
  inputs: [
    {
      name: input,
      dtype: 'bytes',
      shape: [1],
      description: 'One encoded image: PNG, JPEG or WebP.',
    },
  ],
  outputs: [
    {
      name: 'text',
      dtype: 'string',
      shape: [-1],
      description: 'Each line of text, in reading order.',
    },
    {
      name: 'confidence',
      dtype: 'float32',
      shape: [-1],
      description: 'Mean probability of the characters of each line.',
    },
    {
      name: 'box',
      dtype: 'float32',
      shape: [-1, 4, 2],
      description:
        'Corners of each line in image pixels: top-left, top-right, bottom-right, bottom-left.',
    },
  ],
});

function toRuntime(spec: TensorSpec): RuntimeTensorSpec {
  return {
    name: spec.name,
    dtype: spec.dtype,
    shape: [...spec.shape],
    runtimeShape: [...spec.shape],
  };
}

/** A pipeline version as served: each request runs alone through it, no threads of its own. */
export function pipelineServed(entry: ModelEntry): ServedModel {
  const pipeline = entry.config.pipeline;
  if (!pipeline) throw new ConveyorError('ERR_INTERNAL', `${entry.dir} is no pipeline`);
  const { inputs, outputs } = pipelineSignature(pipeline);
  return {
    entry,
    signature: { name: entry.name, version: entry.version, inputs, outputs },
    runtime: { inputs: inputs.map(toRuntime), outputs: outputs.map(toRuntime) },
    threads: 0,
    batchable: false,
    warmupMs: undefined,
    state: 'ready',
    inline: true,
  };
}
