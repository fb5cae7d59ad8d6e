import { DEFAULT_MODEL_EXPIRY_MS } from './naming.js';
import { DEFAULT_MAX_TENSOR_BYTES } from './tensor/tensor.js';

/**
 * The longest wait for a result, in ms: one day. A timer in Node holds at most 2^31 - 1 ms (24.8
 * days) and fires after 1 ms for anything longer, so an unbounded timeout failed every wait at
 * once.
 */
export const MAX_TIMEOUT_MS = 86_400_000;

/**
 * The longest first retry delay, in ms: one hour (JOB_BACKOFF_MS, `backoffMs`). Each later try
 * waits twice as long; a day-long first wait is no retry policy anyone means.
 */
export const MAX_BACKOFF_MS = 3_600_000;

/**
 * The default of every Conveyor setting, in one place: the environment schema (`ConfigSchema`,
 * docs/configuration.md) and the SDK's client options (`ClientOptionsSchema`) both read theirs
 * from here, so one setting cannot have two defaults. The comment of each names the environment
 * variable and the SDK option that take it.
 */
export const DEFAULTS = Object.freeze({
  /** REDIS_URL, `redisUrl`. */
  redisUrl: 'redis://127.0.0.1:6379',
  /** REDIS_KEY_PREFIX, `prefix`. */
  prefix: 'conveyor',
  /** LOG_LEVEL. */
  logLevel: 'info',
  /** LOG_FORMAT. */
  logFormat: 'auto',
  /** TRACING: no OpenTelemetry SDK started. */
  tracing: 'off',
  /** OTEL_EXPORTER_OTLP_ENDPOINT: OTLP over HTTP on this host, as OpenTelemetry's own default. */
  otlpEndpoint: 'http://localhost:4318',
  /** OTEL_TRACES_SAMPLER: follow the caller's decision, sample every new trace. */
  tracesSampler: 'parentbased_always_on',
  /** MODEL_REPOSITORY. */
  modelRepository: 'models',
  /** The embedded client's `concurrency`; the least a worker holds when WORKER_CONCURRENCY is unset. */
  workerConcurrency: 32,
  /** INFERENCE_THREADS. */
  inferenceThreads: 1,
  /** WORKER_NICE. */
  workerNice: 10,
  /** WORKER_HTTP_PORT: off. */
  workerHttpPort: 0,
  /** WORKER_HTTP_HOST, as PRODUCER_HOST. */
  workerHttpHost: '0.0.0.0',
  /** WORKER_HTTP_LIVENESS_MS. */
  workerHttpLivenessMs: 5000,
  /** MAX_TENSOR_BYTES, `maxTensorBytes`: 64 MiB. */
  maxTensorBytes: DEFAULT_MAX_TENSOR_BYTES,
  /** JOB_ATTEMPTS, `attempts`. */
  attempts: 3,
  /** JOB_BACKOFF_MS, `backoffMs`. */
  backoffMs: 1000,
  /** KEEP_COMPLETED_JOBS and KEEP_COMPLETED_AGE_S, `keepCompleted`. */
  keepCompleted: Object.freeze({ count: 10_000, ageSeconds: 3600 }),
  /** KEEP_FAILED_JOBS and KEEP_FAILED_AGE_S, `keepFailed`. */
  keepFailed: Object.freeze({ count: 10_000, ageSeconds: 86_400 }),
  /** RESULT_MAX_BYTES: 32 MiB. */
  resultMaxBytes: 32 * 1024 * 1024,
  /** RESULT_BUDGET_BYTES: 1 GiB. */
  resultBudgetBytes: 1024 * 1024 * 1024,
  /** EVENTS_MAX_LEN, `eventsMaxLen`. */
  eventsMaxLen: 10_000,
  /** PREDICT_TIMEOUT_MS, `timeoutMs`. */
  timeoutMs: 30_000,
  /** SHUTDOWN_TIMEOUT_MS. */
  shutdownTimeoutMs: 30_000,
  /** JOB_LOCK_MS. */
  jobLockMs: 30_000,
  /** STALLED_INTERVAL_MS. */
  stalledIntervalMs: 30_000,
  /** MODEL_EXPIRY_MS, `modelExpiryMs`: 10 minutes. */
  modelExpiryMs: DEFAULT_MODEL_EXPIRY_MS,
  /** MODEL_RESCAN_MS. */
  modelRescanMs: 10_000,
  /** MODEL_DRAIN_MS. */
  modelDrainMs: 10_000,
  /** `catalogueTtlMs` (SDK only). */
  catalogueTtlMs: 5000,
  /** `blobThresholdBytes` (SDK only): 16 KiB. */
  blobThresholdBytes: 16 * 1024,
  /** `blobTtlSeconds` (SDK only): 7 days. */
  blobTtlSeconds: 7 * 24 * 3600,
  /** PRODUCER_HOST. */
  producerHost: '0.0.0.0',
  /** PRODUCER_PORT. */
  producerPort: 8080,
  /** PRODUCER_BACKLOG. */
  producerBacklog: 4096,
  /** MAX_BODY_BYTES: 16 MiB. */
  maxBodyBytes: 16 * 1024 * 1024,
  /** MAX_MODEL_UPLOAD_BYTES: 256 MiB. */
  maxModelUploadBytes: 256 * 1024 * 1024,
  /** MAX_QUEUE_DEPTH. */
  maxQueueDepth: 10_000,
  /** WEBHOOK_MAX_ATTEMPTS. */
  webhookMaxAttempts: 8,
  /** WEBHOOK_BACKOFF_MS. */
  webhookBackoffMs: 1000,
  /** WEBHOOK_TIMEOUT_MS. */
  webhookTimeoutMs: 10_000,
  /** WEBHOOK_CONCURRENCY. */
  webhookConcurrency: 16,
  /** DRIFT_SAMPLE. */
  driftSample: 1,
  /** DRIFT_FLUSH_MS. */
  driftFlushMs: 5000,
  /** DRIFT_SLICE_MS: 1 minute. */
  driftSliceMs: 60_000,
  /** DRIFT_ALERT_INTERVAL_MS. */
  driftAlertIntervalMs: 30_000,
  /** The window `client.drift()` reads by default (SDK only): 1 hour. */
  driftWindowMs: 3_600_000,
  /** RATE_LIMIT_MAX. */
  rateLimitMax: 3000,
  /** RATE_LIMIT_WINDOW_MS. */
  rateLimitWindowMs: 10_000,
  /** RATE_LIMIT_STORE. */
  rateLimitStore: 'redis',
  /** SSE_HEARTBEAT_MS. */
  sseHeartbeatMs: 15_000,
  /** BATCH_MAX_ITEMS. */
  batchMaxItems: 100_000,
  /** STATUS_SAMPLE_MS. */
  statusSampleMs: 5000,
  /** STATUS_HISTORY_MS: 15 minutes. */
  statusHistoryMs: 900_000,
  /** PREDICTION_LOG_SAMPLE: log nothing unless a model asks. */
  predictionLogSample: 0,
  /** PREDICTION_LOG_MAX_LEN. */
  predictionLogMaxLen: 100_000,
  /** PREDICTION_LOG_MAX_BYTES: 256 MiB. */
  predictionLogMaxBytes: 256 * 1024 * 1024,
  /** FEEDBACK_MAX_LEN, `feedbackMaxLen`. */
  feedbackMaxLen: 100_000,
  /** SHADOW_SAMPLE, `shadowSample`: every request of a shadowed alias is copied. */
  shadowSample: 1,
} as const);

export type Defaults = typeof DEFAULTS;
