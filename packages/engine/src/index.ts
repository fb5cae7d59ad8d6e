/**
 * The only package that runs onnxruntime: the model repository, sessions on inference threads,
 * and the checks of requests against each model's signature.
 *
 * @example
 * ```ts
 * import { createEngine } from '@conveyor/engine';
 * import { toTensors } from '@conveyor/shared';
 * const engine = await createEngine({ repository: 'models' });
 * const { outputs } = await engine.predict({ model: 'iris', inputs: toTensors({ features: [[5.1, 3.5, 1.4, 0.2]] }) });
 * const { added, removed } = await engine.sync(); // after copying a new version folder in
 * for (const gone of removed) await engine.unload(gone.entry.name, gone.entry.version);
 * await engine.close();
 * ```
 */
export {
  createEngine,
  type Engine,
  type EngineOptions,
  type PredictCall,
  type PredictOutcome,
  type SyncReport,
  type ThreadsPing,
} from './engine.js';
export { jobsToHold, type ModelState, type ServedModel } from './served-model.js';
export type { BatchSizeStats, BatchSizerStats } from './batch-sizer.js';
export type { BatcherStats } from './batcher.js';
export type { ModelIssue, ModelProblem } from './model-problem.js';
export {
  readModelFile,
  readModelVersion,
  scanRepository,
  type ModelEntry,
  type RepositoryScan,
} from './model-repository.js';
export { inspectVersion, type InferenceRun, type LoadOptions } from './load-version.js';
export { hasBatchAxis, inferredConfig } from './infer-signature.js';
export { checkOnnxFile, type OnnxFileInfo } from './onnx-file.js';
export { reconcileSignature, type RuntimeSignature, type SignatureCheck } from './signature.js';
export {
  openSession,
  type ModelSession,
  type RuntimeTensorSpec,
  type SessionRun,
} from './session.js';
export {
  STAGING_DIR,
  stageModelVersion,
  type PublishOptions,
  type StagedVersion,
} from './publish-version.js';
