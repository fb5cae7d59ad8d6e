import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, ConfigSchema, loadConfig, redactUrl } from './config.js';
import { isConveyorError, type ConveyorError } from './errors.js';

function failure(run: () => unknown): ConveyorError {
  try {
    run();
  } catch (error) {
    if (isConveyorError(error)) return error;
    throw new Error(`expected a ConveyorError, got ${String(error)}`);
  }
  throw new Error('expected a ConveyorError, but nothing was thrown');
}

describe('loadConfig', () => {
  it('gives every variable its default when the environment is empty', () => {
    expect(loadConfig({})).toEqual({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: 'conveyor',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'auto',
      TRACING: 'off',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      MODEL_REPOSITORY: 'models',
      MODELS: [],
      INFERENCE_THREADS: 1,
      WORKER_NICE: 10,
      WORKER_HTTP_PORT: 0,
      WORKER_HTTP_HOST: '0.0.0.0',
      WORKER_HTTP_LIVENESS_MS: 5000,
      STATUS_SAMPLE_MS: 5000,
      STATUS_HISTORY_MS: 900_000,
      MAX_TENSOR_BYTES: 64 * 1024 * 1024,
      JOB_ATTEMPTS: 3,
      JOB_BACKOFF_MS: 1000,
      KEEP_COMPLETED_JOBS: 10_000,
      KEEP_COMPLETED_AGE_S: 3600,
      KEEP_FAILED_JOBS: 10_000,
      KEEP_FAILED_AGE_S: 86_400,
      RESULT_MAX_BYTES: 32 * 1024 * 1024,
      RESULT_BUDGET_BYTES: 1024 * 1024 * 1024,
      EVENTS_MAX_LEN: 10_000,
      PREDICT_TIMEOUT_MS: 30_000,
      SHUTDOWN_TIMEOUT_MS: 30_000,
      JOB_LOCK_MS: 30_000,
      STALLED_INTERVAL_MS: 30_000,
      MODEL_EXPIRY_MS: 600_000,
      MODEL_RESCAN_MS: 10_000,
      MODEL_DRAIN_MS: 10_000,
      MAX_MODEL_UPLOAD_BYTES: 256 * 1024 * 1024,
      PRODUCER_HOST: '0.0.0.0',
      PRODUCER_PORT: 8080,
      PRODUCER_BACKLOG: 4096,
      MAX_BODY_BYTES: 16 * 1024 * 1024,
      MAX_QUEUE_DEPTH: 10_000,
      QUEUE_DEPTH_BY_MODEL: {},
      API_KEYS: [],
      WEBHOOK_MAX_ATTEMPTS: 8,
      WEBHOOK_BACKOFF_MS: 1000,
      WEBHOOK_TIMEOUT_MS: 10_000,
      WEBHOOK_CONCURRENCY: 16,
      WEBHOOK_ALLOW_PRIVATE: false,
      WEBHOOK_ALLOWED_HOSTS: [],
      RATE_LIMIT_MAX: 3000,
      RATE_LIMIT_WINDOW_MS: 10_000,
      RATE_LIMIT_STORE: 'redis',
      SSE_HEARTBEAT_MS: 15_000,
      BATCH_MAX_ITEMS: 100_000,
      DRIFT_SAMPLE: 1,
      DRIFT_FLUSH_MS: 5000,
      DRIFT_SLICE_MS: 60_000,
      DRIFT_ALERT_INTERVAL_MS: 30_000,
      PREDICTION_LOG_SAMPLE: 0,
      PREDICTION_LOG_MAX_LEN: 100_000,
      PREDICTION_LOG_MAX_BYTES: 256 * 1024 * 1024,
      FEEDBACK_MAX_LEN: 100_000,
      SHADOW_SAMPLE: 1,
    });
  });

  it('has a default for every key but the optional ones, so an empty environment is valid', () => {
    const config = loadConfig({});
    // Without a secret webhooks are off: there is no safe default for a signing key. Without a
    // port there is no gRPC server, and its host follows PRODUCER_HOST. OpenTelemetry's optional
    // settings have their defaults where they are used (service name, traces URL, ratio), and so
    // does a worker's concurrency (per model version, from its batch size and threads).
    const optional = new Set([
      'WORKER_CONCURRENCY',
      'WEBHOOK_SECRET',
      'GRPC_PORT',
      'GRPC_HOST',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'OTEL_SERVICE_NAME',
      'OTEL_TRACES_SAMPLER_ARG',
      'REDIS_CLUSTER_NODES',
      'REDIS_SENTINELS',
      'REDIS_SENTINEL_NAME',
    ]);
    for (const key of CONFIG_KEYS) if (!optional.has(key)) expect(config[key]).toBeDefined();
    expect(config.WEBHOOK_SECRET).toBeUndefined();
    expect(config.GRPC_PORT).toBeUndefined();
  });

  it('treats empty and blank strings as unset', () => {
    const env = Object.fromEntries(CONFIG_KEYS.map((key, i) => [key, i % 2 === 0 ? '' : '   ']));
    expect(loadConfig(env)).toEqual(loadConfig({}));
  });

  it('reads numbers from strings and trims values', () => {
    const config = loadConfig({
      WORKER_CONCURRENCY: ' 16 ',
      PRODUCER_PORT: '0',
      LOG_LEVEL: 'debug ',
    });
    expect(config.WORKER_CONCURRENCY).toBe(16);
    expect(config.PRODUCER_PORT).toBe(0);
    expect(config.LOG_LEVEL).toBe('debug');
  });

  it('splits MODELS on commas, trimming names and dropping empty ones', () => {
    expect(loadConfig({ MODELS: 'iris, mnist,,ocr-det ,' }).MODELS).toEqual([
      'iris',
      'mnist',
      'ocr-det',
    ]);
    expect(loadConfig({ MODELS: 'iris' }).MODELS).toEqual(['iris']);
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root' })).toEqual(loadConfig({}));
  });

  it('returns a frozen configuration', () => {
    const config = loadConfig({ MODELS: 'a,b' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.MODELS)).toBe(true);
  });

  it('reports every problem at once as ERR_CONFIG_INVALID', () => {
    const error = failure(() =>
      loadConfig({
        REDIS_URL: 'not a url',
        LOG_LEVEL: 'loud',
        WORKER_CONCURRENCY: '0',
        PRODUCER_PORT: '70000',
        JOB_BACKOFF_MS: '1.5',
        MAX_TENSOR_BYTES: 'lots',
        REDIS_KEY_PREFIX: 'has:colon',
      }),
    );
    expect(error.code).toBe('ERR_CONFIG_INVALID');
    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      'JOB_BACKOFF_MS',
      'LOG_LEVEL',
      'MAX_TENSOR_BYTES',
      'PRODUCER_PORT',
      'REDIS_KEY_PREFIX',
      'REDIS_URL',
      'WORKER_CONCURRENCY',
    ]);
  });

  it('rejects a single bad value with ERR_CONFIG_INVALID naming it', () => {
    const error = failure(() => loadConfig({ MAX_BODY_BYTES: '10' }));
    expect(error.code).toBe('ERR_CONFIG_INVALID');
    expect(error.issues.map((issue) => issue.path)).toEqual(['MAX_BODY_BYTES']);
  });
});

describe('CONFIG_KEYS', () => {
  it('lists exactly the keys of ConfigSchema', () => {
    expect([...CONFIG_KEYS].sort()).toEqual(Object.keys(ConfigSchema.shape).sort());
  });
});

describe('redactUrl', () => {
  it('hides the password of a Redis URL and leaves the rest', () => {
    expect(redactUrl('redis://user:secret@redis.example:6380/2')).toBe(
      'redis://user:***@redis.example:6380/2',
    );
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('does not echo a URL it cannot parse', () => {
    expect(redactUrl('::secret::')).toBe('(unparseable url)');
  });

  it('reads REDIS_CLUSTER_NODES as host:port seed nodes, unset by default', () => {
    expect(loadConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
    const nodes = loadConfig({ REDIS_CLUSTER_NODES: ' 10.0.0.5:7000, [::1]:7001,redis-2:6379 ' });
    expect(nodes.REDIS_CLUSTER_NODES).toEqual([
      { host: '10.0.0.5', port: 7000 },
      { host: '::1', port: 7001 },
      { host: 'redis-2', port: 6379 },
    ]);
    for (const bad of ['10.0.0.5', 'host:0', 'host:70000', 'a b:1'])
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }),
      );
  });
});
