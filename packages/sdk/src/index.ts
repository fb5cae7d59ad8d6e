/**
 * The Conveyor client: send predictions to models served by Conveyor workers through Redis. The
 * embedded client, which runs the same models in this process, is `@conveyor/sdk/embedded`; this
 * entry never loads the engine or onnxruntime. Both return a ConveyorClient.
 *
 * @example
 * ```ts
 * import { createClient, defineModel } from '@conveyor/sdk';
 * const client = await createClient({ redisUrl: 'redis://127.0.0.1:6379' });
 * // or, in-process: await createEmbeddedClient({ repository: 'models' }) from '@conveyor/sdk/embedded'
 * const { outputs } = await client.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
 * const iris = defineModel({ name: 'iris', inputs: { features: 'float32' }, outputs: { probabilities: 'float32' } });
 * const typed = await client.predict(iris, { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 });
 * typed.outputs.probabilities.data; // Float32Array
 * await client.close();
 * ```
 */
export { createClient } from './queue/client.js';
export {
  ROUTING_RULE,
  createModelAdmin,
  modelAdminOn,
  unservedWarnings,
  type ModelAdmin,
  type ModelStatus,
} from './model-admin.js';
export { findModelStatus, pinProductionBeforePublish } from './publish-guard.js';
export type { AnnouncedVersion, LiveVersion } from './catalogue.js';
export type { ChangeOptions } from './aliases.js';
export { ClientOptionsSchema, type ClientOptions } from './options.js';
export { DriftQuerySchema, readDrift, type DriftQuery } from './drift.js';
export { BulkOptionsSchema, PredictManyOptionsSchema } from './client.js';
export { inputBytes, packInputs, rowLayout, splitOutputs, type RowLayout } from './row-pack.js';
export {
  FIRST_PACK_ROWS,
  MAX_PACK_BYTES,
  MAX_PACK_ROWS,
  TARGET_PACK_MS,
  createPackSizer,
  type PackSizer,
} from './row-pack-sizer.js';
export {
  PredictionLogQuerySchema,
  findLoggedPrediction,
  predictionLogSize,
  readPredictionLog,
  readPredictionLogPage,
  type PredictionLogPage,
  type PredictionLogQuery,
  type PredictionLogRedis,
} from './prediction-log.js';
export { readAccuracy, type AccuracyRedis } from './accuracy.js';
export {
  recordFeedback,
  type FeedbackDeps,
  type FeedbackOptions,
  type KnownPrediction,
} from './feedback.js';
export type {
  BulkItem,
  BulkOptions,
  BulkOptionsFor,
  ConveyorClient,
  JobEvent,
  JobHandle,
  JobRecord,
  JobSummary,
  JobRequest,
  JobState,
  JobStatus,
  ModelInfo,
  Outputs,
  Prediction,
  PredictManyOptions,
  PredictManyResult,
  PredictOptionsFor,
  QueueClient,
  QueueJobHandle,
} from './client.js';
export {
  defineModel,
  type InputsOf,
  type ModelDefinition,
  type ModelRef,
  type OutputName,
  type OutputsOf,
  type PredictInputs,
  type TensorTypes,
  type TypedInput,
} from './typed-model.js';
export {
  ConveyorError,
  isConveyorError,
  type AccuracyQuery,
  type Dtype,
  type ErrorCode,
  type FeatureRow,
  type FeatureValue,
  type Feedback,
  type FeedbackEntry,
  type FeedbackReceipt,
  type LoggedPrediction,
  type ModelAccuracy,
  type WindowAccuracy,
  decodeFeedbackEntry,
  type ConveyorStatus,
  type DriftReport,
  type DriftVersion,
  type DriftFeatureScore,
  type LatencySummary,
  type PredictOptions,
  type QueueStatus,
  type Tensor,
  type TensorInput,
  type TensorInputs,
  type WorkerRecord,
  type WorkerState,
  type WorkerVersion,
} from '@conveyor/shared';
export {
  CompareOptionsSchema,
  readComparisons,
  type CompareOptions,
  type ComparisonRedis,
} from './comparisons.js';
export {
  ReplayOptionsSchema,
  replayLog,
  type ReplayDeps,
  type ReplayOptions,
  type ReplayProgress,
} from './replay.js';
export type { ComparisonReport, OutputReport, SideLatency } from '@conveyor/shared';
