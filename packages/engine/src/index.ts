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
 * await engine.close();
 * ```
 */
export {
  createEngine,
  type Engine,
  type EngineOptions,
  type PredictCall,
  type PredictOutcome,
  type ServedModel,
} from './engine.js';
export {
  scanRepository,
  type ModelEntry,
  type ModelProblem,
  type RepositoryScan,
} from './model-repository.js';
export { reconcileSignature } from './signature.js';
export { openSession, type ModelSession, type RuntimeTensorSpec } from './session.js';
