import type { Pipeline } from '@conveyor/shared';

/** The .onnx files of its own folder a pipeline runs. */
export function pipelineFiles(pipeline: Pipeline): string[] {
  const refs = [pipeline.detector, pipeline.classifier, pipeline.recognizer];
  return refs.flatMap((ref) => (ref && 'file' in ref ? [ref.file] : []));
}

/** The models of the repository a pipeline calls. */
export function pipelineModels(pipeline: Pipeline): string[] {
  const refs = [pipeline.detector, pipeline.classifier, pipeline.recognizer];
  return refs.flatMap((ref) => (ref && 'model' in ref ? [ref.model] : []));
}
