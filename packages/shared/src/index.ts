/**
 * Schemas, the tensor codec, errors, configuration and logging shared by every Conveyor package.
 *
 * @example
 * ```ts
 * import { loadConfig, createLogger, toTensor, encodeTensor } from '@conveyor/shared';
 * const config = loadConfig(process.env);
 * const log = createLogger({ level: config.LOG_LEVEL, component: 'worker' });
 * const wire = encodeTensor(toTensor('features', [[5.1, 3.5, 1.4, 0.2]]));
 * ```
 */
export {
  ConveyorError,
  ERROR_CATALOGUE,
  ERROR_CODES,
  isConveyorError,
  isErrorCode,
  rejectionOf,
  toConveyorError,
  type ConveyorErrorOptions,
  type ErrorCatalogueEntry,
  type ErrorCode,
  type ErrorIssue,
} from './errors.js';
export {
  FAILURE_DETAILS_MARKER,
  MAX_FAILURE_DETAILS_BYTES,
  boundDetails,
  exposedDetails,
  formatFailure,
  parseFailure,
} from './failure.js';
export {
  DTYPES,
  DTYPE_ARRAYS,
  arrayMatchesDtype,
  bytesPerElement,
  dtypeOfArray,
  isBigIntDtype,
  isStringDtype,
  isVariableDtype,
  type Dtype,
  type DtypeArrays,
  type NumericDtype,
  type TensorData,
  type TypedArray,
  type VariableDtype,
} from './tensor/dtype.js';
export {
  DEFAULT_MAX_TENSOR_BYTES,
  MAX_RANK,
  checkedByteLength,
  createTensor,
  elementAt,
  toNumbers,
  toRows,
  type Tensor,
} from './tensor/tensor.js';
export {
  BlobTensorSchema,
  StoredTensorSchema,
  TensorCodec,
  WireTensorSchema,
  decodeBytes,
  decodeStrings,
  decodeTensor,
  encodeBytes,
  encodeStrings,
  encodeTensor,
  tensorBytes,
  tensorFromBytes,
  type BlobTensor,
  type DecodeOptions,
  type StoredTensor,
  type WireTensor,
} from './tensor/codec.js';
export {
  RESULT_CHUNK_BYTES,
  RESULT_FIELD,
  joinChunks,
  resultChunks,
  resultFields,
  storedBytesOf,
  decodeOutputs,
  encodeOutputs,
  hasStoredOutputs,
  type EncodedOutputs,
} from './tensor/outputs.js';
export { halfToNumber, numberToHalf } from './tensor/half-float.js';
export { toFloatElement, valueOutOfRange } from './tensor/range.js';
export {
  compareVersions,
  ModelNameSchema,
  ModelVersionSchema,
  TensorNameSchema,
  toModelName,
  type ModelName,
  type ModelVersion,
} from './schemas/names.js';
export {
  BatchingConfigSchema,
  CatalogueEntrySchema,
  DimSchema,
  ModelConfigSchema,
  ModelSignatureSchema,
  SessionConfigSchema,
  TensorOverrideSchema,
  TensorSpecSchema,
  WarmupSampleSchema,
  type BatchingConfig,
  type CatalogueEntry,
  type ModelConfig,
  type ModelConfigInput,
  type ModelSignature,
  type SessionConfig,
  type TensorOverride,
  type TensorSpec,
  type WarmupSample,
  VERSION_STATES,
  type VersionState,
} from './schemas/model-config.js';
export {
  JOB_PAYLOAD_VERSION,
  JobPayloadSchema,
  JobResultSchema,
  type JobPayload,
  type JobResult,
} from './schemas/job.js';
export {
  MAX_PLAIN_TENSORS,
  isAliasName,
  isBase64,
  isCount,
  isDtype,
  isJobId,
  isModelName,
  isModelVersion,
  isOwner,
  isPlainRecord,
  isShape,
  isTensorMap,
  isTensorName,
  ownKeyCount,
} from './schemas/plain-checks.js';
export {
  OwnerSchema,
  PredictOptionsSchema,
  toTensor,
  toTensors,
  type InputSpec,
  type NestedArray,
  type PredictOptions,
  type ParsedPredictOptions,
  type ScalarInput,
  type TensorInput,
  type TensorInputs,
} from './schemas/predict-request.js';
export {
  featureInput,
  featuresToInputs,
  isFeatureRow,
  isFeatureRows,
  type FeatureRow,
  type FeatureValue,
} from './schemas/features.js';
export {
  RECORD_FIELD_REASONS,
  RECORD_FIELD_TYPES,
  RecordFieldSchema,
  RecordStepSchema,
  recordFieldWidth,
  recordValueProblem,
  type RecordField,
  type RecordFieldReason,
  type RecordFieldType,
  type RecordStep,
  type RecordStepInput,
  type RecordValueProblem,
} from './schemas/processing-record.js';
export {
  TextChunkSchema,
  TextInputsSchema,
  TextStepSchema,
  type TextChunk,
  type TextStep,
  type TextStepInput,
} from './schemas/processing-text.js';
export {
  IMAGE_FITS,
  ImageStepSchema,
  type ImageFit,
  type ImageStep,
  type ImageStepInput,
} from './schemas/processing-image.js';
export {
  ArgmaxStepSchema,
  LabelsSchema,
  SoftmaxStepSchema,
  ThresholdStepSchema,
  TopkStepSchema,
  type ArgmaxStep,
  type Labels,
  type SoftmaxStep,
  type ThresholdStep,
  type TopkStep,
} from './schemas/processing-outputs.js';
export {
  InputStepSchema,
  OutputStepSchema,
  PostprocessSchema,
  PreprocessSchema,
  type InputStepConfig,
  type OutputStepConfig,
  type Postprocess,
  type Preprocess,
} from './schemas/processing.js';
export { checkRequest, shapeMatches } from './signature.js';
export { parseOrThrow, zodIssues } from './validation.js';
export { CONFIG_KEYS, ConfigSchema, loadConfig, redactUrl, type Config } from './config.js';
export {
  formatTraceparent,
  jobTraceMetadata,
  parseTraceparent,
  readJobTraceMetadata,
  type JobTraceContext,
  type TraceParent,
} from './trace-context.js';
export { DEFAULTS, MAX_BACKOFF_MS, MAX_TIMEOUT_MS, type Defaults } from './defaults.js';
export {
  DEV_STATE_FILE,
  DevStateSchema,
  readDevState,
  removeDevState,
  writeDevState,
  type DevState,
} from './dev-state.js';
export {
  createLogger,
  silentLogger,
  throttledErrorLog,
  type Component,
  type LogFormat,
  type Logger,
  type LoggerOptions,
} from './logger.js';
export { ErrorBodySchema, type ErrorBody } from './schemas/error-body.js';
export {
  BoxesStepSchema,
  CtcStepSchema,
  type BoxesStep,
  type CtcStep,
} from './schemas/processing-ocr.js';
export {
  COMBINE_OPS,
  EnsemblePipelineSchema,
  splitSource,
  type EnsemblePipeline,
  type EnsembleStep,
} from './schemas/processing-ensemble.js';
export {
  ModelRefSchema,
  OcrPipelineSchema,
  PipelineSchema,
  type ModelRef,
  type OcrPipeline,
  type Pipeline,
} from './schemas/processing-pipeline.js';
export {
  ConveyorStatusSchema,
  LatencySummarySchema,
  ModelStatusSchema,
  ModelVersionStatusSchema,
  QueueStatusSchema,
  WORKER_STATES,
  WorkerRecordSchema,
  WorkerVersionSchema,
  type ConveyorStatus,
  type LatencySummary,
  type ModelStatus,
  type QueueStatus,
  type WorkerRecord,
  type WorkerState,
  type WorkerVersion,
} from './schemas/status.js';
export {
  FailureCountSchema,
  StatusHistorySchema,
  VersionHistorySchema,
  type FailureCount,
  type StatusHistory,
  type VersionHistory,
} from './schemas/status-history.js';
export {
  AutoscaleOptionsSchema,
  ComposeContainerSchema,
  SCALER_KINDS,
  type AutoscaleOptions,
  type ComposeContainer,
} from './schemas/autoscale.js';
export {
  createStatusHistory,
  type StatusHistoryBuffer,
  type StatusHistoryOptions,
} from './status-history.js';
export {
  AliasChangeSchema,
  AliasNameSchema,
  AliasTargetSchema,
  DEFAULT_ALIAS,
  ModelAliasesSchema,
  VersionRefSchema,
  describeTarget,
  pickVersion,
  targetVersions,
  type AliasChange,
  type AliasTarget,
  type ModelAliases,
} from './schemas/aliases.js';
export {
  CLOSE_GRACE_MS,
  SHUTDOWN_MARGIN_MS,
  closeRedis,
  exitAfterLogs,
  exitOnSignals,
  loadConfigOrExit,
  settledWithin,
  waitForRedis,
  type ExitOnSignalsOptions,
} from './lifecycle.js';
export {
  CATALOGUE_HEARTBEAT_MS,
  DEFAULT_MODEL_EXPIRY_MS,
  JobIdSchema,
  aliasHistoryKey,
  aliasesKey,
  blobKey,
  catalogueField,
  catalogueKey,
  idempotencyRecordKey,
  workerBeatsKey,
  workerRecordKey,
  WORKER_RECORD_TTL_MS,
  WORKER_BEAT_MS,
  WORKER_SILENT_MS,
  idempotencySecretKey,
  modelsChannel,
  rescanChannel,
  idempotencyDigest,
  modelOfJobId,
  modelOfQueue,
  msFromRedisTime,
  newJobId,
  modelKey,
  groupKey,
  hashTagOf,
  queueKey,
  queuePrefix,
  queueName,
  queueOfJobId,
  routeOfJobId,
  type JobRoute,
} from './naming.js';
export { withRandomUuid } from './random-uuid.js';
export {
  clientUrl,
  createRedisClient,
  isCluster,
  keyHolders,
  type RedisClient,
  type RedisClientOptions,
} from './redis-client.js';
export { batchWritesPerTurn } from './redis-write-batching.js';
export { JOB_HASH_VALUE_BYTES, REDIS_SERVER_SETTINGS, hashValueBytes } from './redis-settings.js';
export { perTurn, type PerTurnOptions } from './per-turn.js';
export {
  SENTINEL_NAME,
  clientRedisOf,
  configTarget,
  configTopology,
  formatRedisNode,
  isSentinelGroup,
  parseRedisNode,
  parseTopologyUrl,
  redisTarget,
  targetAddress,
  type RedisConfig,
  type RedisNode,
  type RedisSentinelGroup,
  type RedisTarget,
  type RedisTopology,
  type TopologyUrl,
} from './redis-target.js';
export {
  AlertsSchema,
  BaselineSchema,
  DRIFT_RETENTION_MS,
  FeatureBaselineSchema,
  HistogramSchema,
  WindowSchema,
  binIndex,
  computeBaseline,
  featureBaseline,
  parseWindow,
  type Alerts,
  type Baseline,
  type FeatureBaseline,
  type Histogram,
} from './drift/baseline.js';
export {
  PSI_EPSILON,
  chiSquareSurvival,
  chiSquareTest,
  kolmogorovSurvival,
  ksTest,
  psi,
  type TestResult,
} from './drift/drift-math.js';
export { driftFeatures, visitFeatureValues, type FeatureSource } from './drift/drift-features.js';
export {
  addFeatureCounts,
  driftTallyOf,
  emptyFeatureCounts,
  tallyInputs,
  type DriftTally,
} from './drift/drift-tally.js';
export {
  DriftFeatureScoreSchema,
  DriftMetaSchema,
  DriftReportSchema,
  DriftVersionSchema,
  addSliceFields,
  alertStateKey,
  alertVersionsKey,
  alertsKey,
  baselineId,
  driftMetaKey,
  driftSliceKey,
  driftSlicesKey,
  driftVersionsKey,
  scoreDrift,
  type DriftFeatureScore,
  type DriftMeta,
  type DriftReport,
  type DriftVersion,
  type FeatureCounts,
} from './drift/drift-report.js';
export {
  PredictionLogConfigSchema,
  decodeLogEntry,
  encodeLogEntry,
  msOfEntryId,
  packTensors,
  predictionLogBytesKey,
  predictionLogIndexKey,
  predictionLogKey,
  unpackTensors,
  type LoggedPrediction,
  type PredictionLogConfig,
  type PredictionLogRecord,
} from './prediction-log.js';
export {
  ACCURACY_BUCKET_MS,
  ACCURACY_WINDOWS,
  FEEDBACK_ONCE_MS,
  FeedbackReceiptSchema,
  FeedbackSchema,
  ModelAccuracySchema,
  WindowAccuracySchema,
  accuracyBucketsKey,
  accuracyKey,
  feedbackKey,
  feedbackOnceKey,
  type AccuracyWindow,
  type Feedback,
  type FeedbackReceipt,
  type ModelAccuracy,
  type WindowAccuracy,
} from './feedback.js';
export { decodeFeedbackEntry, encodeFeedbackEntry, type FeedbackEntry } from './feedback-entry.js';
export { scoreFeedback, type FeedbackScore } from './feedback-score.js';
export {
  ACCURACY_KEPT_MS,
  AccuracyQuerySchema,
  accuracyBucketOf,
  accuracyOverWindows,
  sumsOfScore,
  type AccuracyCount,
  type AccuracyQuery,
  type AccuracySums,
} from './feedback-accuracy.js';
export {
  answerRepeatedFeedback,
  feedbackReceiptOf,
  feedbackTruth,
  type FirstFeedback,
  type ScoredFeedback,
} from './feedback-once.js';
export {
  PRODUCER_COMMAND_TIMEOUT_MS,
  RedisTimeoutError,
  notAnnouncedHint,
  redisAddress,
  redisOptions,
  redisUnavailable,
  redisWithin,
  type RedisConnectionOptions,
  type RedisRole,
} from './redis-options.js';
export {
  compareOutput,
  compareOutputs,
  type OutputComparison,
} from './comparison/compare-outputs.js';
export {
  DROP_REASONS,
  bucketUpperMs,
  dropUpdate,
  histogramQuantile,
  latencyBucket,
  mergeUpdate,
  statsUpdate,
  type DropReason,
  type SideTimings,
  type StatsUpdate,
} from './comparison/comparison-stats.js';
export {
  ComparisonReportSchema,
  ComparisonSourceSchema,
  OutputReportSchema,
  SideLatencySchema,
  comparisonReport,
  type ComparisonPair,
  type ComparisonReport,
  type ComparisonSource,
  type OutputReport,
  type SideLatency,
} from './comparison/comparison-report.js';
export {
  MEET_SHADOW_SCRIPT,
  RECORD_COMPARISON_SCRIPT,
  SHADOW_MAX_BACKLOG,
  SHADOW_MAX_OUTPUT_BYTES,
  SHADOW_PENDING_TTL_MS,
  SHADOW_PRIORITY,
  ShadowEntrySchema,
  comparisonKey,
  comparisonMember,
  comparisonsIndexKey,
  pairOfMember,
  shadowPendingKey,
  type ShadowEntry,
} from './comparison/comparison-keys.js';
export { AliasShadowsSchema, type AliasShadows } from './schemas/aliases.js';
