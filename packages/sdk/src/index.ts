/**
 * The Conveyor client: send predictions to models served by Conveyor workers through Redis.
 *
 * @example
 * ```ts
 * import { createClient } from '@conveyor/sdk';
 * const client = await createClient({ redisUrl: 'redis://127.0.0.1:6379' });
 * const { outputs } = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
 * const [setosa, versicolor, virginica] = outputs.probabilities.data;
 * await client.close();
 * ```
 */
export { createClient } from './queue-client.js';
export { ClientOptionsSchema, type ClientOptions } from './options.js';
export { BulkOptionsSchema } from './client.js';
export type {
  BulkItem,
  BulkOptions,
  ConveyorClient,
  JobHandle,
  JobState,
  JobStatus,
  ModelInfo,
  Prediction,
} from './client.js';
export {
  ConveyorError,
  isConveyorError,
  type ErrorCode,
  type PredictOptions,
  type Tensor,
  type TensorInput,
  type TensorInputs,
} from '@conveyor/shared';
