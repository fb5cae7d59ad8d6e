import type { ModelRef, Pipeline } from '@conveyor/shared';

/** The models a pipeline runs. */
function refsOf(pipeline: Pipeline): ModelRef[] {
  if (pipeline.kind === 'ensemble')
    return pipeline.steps.flatMap((step) => ('model' in step ? [step.model] : []));
  const refs = [pipeline.detector, pipeline.classifier, pipeline.recognizer];
  return refs.flatMap((ref) => (ref ? [ref] : []));
}

/** The .onnx files of its own folder a pipeline runs. */
export function pipelineFiles(pipeline: Pipeline): string[] {
  return [...new Set(refsOf(pipeline).flatMap((ref) => ('file' in ref ? [ref.file] : [])))];
}

/** The models of the repository a pipeline calls. */
export function pipelineModels(pipeline: Pipeline): string[] {
  return [...new Set(refsOf(pipeline).flatMap((ref) => ('model' in ref ? [ref.model] : [])))];
}
