import { z } from 'zod';
import { ConveyorError } from './errors.js';
import { ModelNameSchema } from './schemas/names.js';
import { DEFAULTS, MAX_BACKOFF_MS, MAX_TIMEOUT_MS } from './defaults.js';
import { zodIssues } from './validation.js';
import { SENTINEL_NAME, parseRedisNode, parseTopologyUrl } from './redis-target.js';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** One API key of the producer: `name:scope:secret`; the secret is never logged or echoed. */
const ApiKeySchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'a name of 1-64 of A-Z a-z 0-9 _ . -' }),
    scope: z.enum(['infer', 'admin'], { message: 'scope must be infer or admin' }),
    secret: z
      .string()
      .regex(/^[\x21-\x7e]{16,1024}$/, { message: 'a secret of 16-1024 printable characters' }),
  })
  .strict();

/** `API_KEYS`: comma-separated `name:scope:secret` entries with unique names and secrets. */
const ApiKeysSchema = z
  .string()
  .default('')
  .transform((list) =>
    list
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean)
      .map((entry) => {
        const [name = '', scope = '', ...secret] = entry.split(':');
        return { name, scope, secret: secret.join(':') };
      }),
  )
  .pipe(
    z.array(ApiKeySchema).superRefine((keys, ctx) => {
      keys.forEach((key, index) => {
        if (keys.findIndex((k) => k.name === key.name) !== index)
          ctx.addIssue({ code: 'custom', path: [index, 'name'], message: 'repeats a key name' });
        if (keys.findIndex((k) => k.secret === key.secret) !== index)
          ctx.addIssue({ code: 'custom', path: [index, 'secret'], message: 'repeats a secret' });
      });
    }),
  )
  .transform((keys) => Object.freeze(keys.map((key) => Object.freeze(key))));

/** `QUEUE_DEPTH_BY_MODEL`: a JSON object of model name to queue depth limit. */
const QueueDepthsSchema = z
  .string()
  .default('{}')
  .transform((text, ctx): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'a JSON object such as {"iris": 500}' });
      return z.NEVER;
    }
  })
  .pipe(z.record(ModelNameSchema, z.number().int().min(1).max(100_000_000)))
  .transform((depths) => Object.freeze(depths));

/** `REDIS_CLUSTER_NODES`, `REDIS_SENTINELS`: comma-separated `host:port` nodes. */
const RedisNodesSchema = z
  .string()
  .optional()
  .transform((list, ctx) => {
    const entries = (list ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const nodes = entries.map((entry) => parseRedisNode(entry));
    nodes.forEach((node, index) => {
      if (!node)
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: 'a host:port such as 10.0.0.5:6379',
        });
    });
    const valid = nodes.filter((node) => node !== undefined);
    return valid.length === 0 ? undefined : Object.freeze(valid.map((node) => Object.freeze(node)));
  });

/**
 * Every environment variable Conveyor reads, with its default. Units are in the names.
 * docs/configuration.md documents each one; a test keeps the two in step.
 */
export const ConfigSchema = z
  .object({
    /**
     * Redis to use; credentials and TLS (`rediss://`) go in the URL. `redis+sentinel://` and
     * `redis+cluster://` URLs (see loadConfig) also name a Sentinel group or a cluster.
     */
    REDIS_URL: z.string().url().default(DEFAULTS.redisUrl),
    /**
     * Seed nodes of a Redis Cluster, `host:port` comma-separated; set, Conveyor speaks the cluster
     * protocol and takes only credentials and TLS from REDIS_URL.
     */
    REDIS_CLUSTER_NODES: RedisNodesSchema,
    /**
     * Sentinels of a Sentinel-managed master, `host:port` comma-separated, with
     * REDIS_SENTINEL_NAME; set, every connection goes to the master they name (and follows a
     * failover), taking credentials, TLS and the database from REDIS_URL.
     */
    REDIS_SENTINELS: RedisNodesSchema,
    /** The master group name the sentinels watch (`sentinel monitor <name> …`). */
    REDIS_SENTINEL_NAME: z
      .string()
      .regex(SENTINEL_NAME, { message: 'a master group name of 1-128 of A-Z a-z 0-9 _ . : -' })
      .optional(),
    /** Prefix of every Redis key Conveyor writes. */
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/)
      .default(DEFAULTS.prefix),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default(DEFAULTS.logLevel),
    /**
     * `json` (one JSON object per line), `pretty` (pino-pretty: coloured, readable) or `auto`:
     * pretty when stdout is a terminal, JSON otherwise.
     */
    LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default(DEFAULTS.logFormat),
    /**
     * `otlp` starts OpenTelemetry tracing in the producer and the worker, exporting spans over OTLP
     * (HTTP, protobuf); `off` starts nothing and costs a job one check.
     */
    TRACING: z.enum(['off', 'otlp']).default(DEFAULTS.tracing),
    /** Base URL of the OTLP receiver; traces go to `<url>/v1/traces`. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().default(DEFAULTS.otlpEndpoint),
    /** Full URL traces are sent to; overrides OTEL_EXPORTER_OTLP_ENDPOINT for traces. */
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().url().optional(),
    /** `service.name` of the spans; unset: `conveyor-producer` or `conveyor-worker`. */
    OTEL_SERVICE_NAME: z.string().min(1).max(256).optional(),
    /** Which traces are recorded, as OpenTelemetry names its samplers. */
    OTEL_TRACES_SAMPLER: z
      .enum([
        'always_on',
        'always_off',
        'traceidratio',
        'parentbased_always_on',
        'parentbased_always_off',
        'parentbased_traceidratio',
      ])
      .default(DEFAULTS.tracesSampler),
    /** The ratio (0-1) of the `traceidratio` samplers; default 1. */
    OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
    /** Folder of `<name>/<version>/model.onnx` + `model.json`. */
    MODEL_REPOSITORY: z.string().min(1).default(DEFAULTS.modelRepository),
    /** Comma-separated model names this worker serves; unset serves every model in the repository. */
    MODELS: z
      .string()
      .optional()
      .transform((list) =>
        list
          ? list
              .split(',')
              .map((m) => m.trim())
              .filter(Boolean)
          : [],
      ),
    /**
     * Jobs one worker process holds at once, per model: at least the batch size, or batches
     * cannot fill. Unset, each version holds a full call on each of its inference threads and the
     * next call each thread holds (2 x threads x maxBatchSize), at least 32 and at most 256.
     * Chosen with `pnpm bench` (docs/benchmarks.md).
     */
    WORKER_CONCURRENCY: int(1, 1024).optional(),
    /**
     * Threads that run onnxruntime in a worker process, per model version (the main thread only
     * talks to Redis). 0 runs inference on the main thread: for measurement only.
     */
    INFERENCE_THREADS: int(0, 64).default(DEFAULTS.inferenceThreads),
    /**
     * Niceness a worker process runs at (0-19; higher yields the CPU sooner), set at its start so
     * its inference threads inherit it: a producer on the same host keeps accepting work fast.
     */
    WORKER_NICE: int(0, 19).default(DEFAULTS.workerNice),
    /**
     * Port of the worker's own HTTP server (`/metrics`, `/livez`, `/readyz`); `0` turns it off.
     * Each worker process on a host needs a port of its own.
     */
    WORKER_HTTP_PORT: int(0, 65_535).default(DEFAULTS.workerHttpPort),
    /** Address the worker's HTTP server listens on. */
    WORKER_HTTP_HOST: z.string().min(1).default(DEFAULTS.workerHttpHost),
    /**
     * Bound of the worker's `/livez`: the longest the event loop may have been held up, and the
     * longest a no-op task may wait for a version's inference threads, before it answers 503.
     */
    WORKER_HTTP_LIVENESS_MS: int(100, 600_000).default(DEFAULTS.workerHttpLivenessMs),
    /** Largest tensor accepted anywhere, in bytes. */
    MAX_TENSOR_BYTES: int(1, 2 ** 31 - 1).default(DEFAULTS.maxTensorBytes),
    /** Tries per job for retryable failures (Redis or model-load trouble). */
    JOB_ATTEMPTS: int(1, 100).default(DEFAULTS.attempts),
    /** First retry delay, doubled each try. */
    JOB_BACKOFF_MS: int(0, MAX_BACKOFF_MS).default(DEFAULTS.backoffMs),
    /** Completed jobs (and their results) kept at most, per model queue. */
    KEEP_COMPLETED_JOBS: int(0, 10_000_000).default(DEFAULTS.keepCompleted.count),
    /** Completed jobs older than this are trimmed. */
    KEEP_COMPLETED_AGE_S: int(0, 31_536_000).default(DEFAULTS.keepCompleted.ageSeconds),
    KEEP_FAILED_JOBS: int(0, 10_000_000).default(DEFAULTS.keepFailed.count),
    KEEP_FAILED_AGE_S: int(0, 31_536_000).default(DEFAULTS.keepFailed.ageSeconds),
    /**
     * Largest result a worker stores, in bytes of output data; a larger one fails its job with
     * ERR_RESULT_TOO_LARGE instead of filling Redis.
     */
    RESULT_MAX_BYTES: int(1, 2 ** 31 - 1).default(DEFAULTS.resultMaxBytes),
    /**
     * Bytes of stored results kept per model version queue, beside KEEP_COMPLETED_*: past it the
     * oldest completed jobs with stored outputs are removed first. 0 turns the budget off.
     */
    RESULT_BUDGET_BYTES: int(0, Number.MAX_SAFE_INTEGER).default(DEFAULTS.resultBudgetBytes),
    /** Approximate cap of each queue's event stream (it holds small results inline). */
    EVENTS_MAX_LEN: int(100, 10_000_000).default(DEFAULTS.eventsMaxLen),
    /** How long a synchronous predict waits before ERR_JOB_TIMEOUT. */
    PREDICT_TIMEOUT_MS: int(1, MAX_TIMEOUT_MS).default(DEFAULTS.timeoutMs),
    /** How long shutdown waits for jobs in flight before closing anyway. */
    SHUTDOWN_TIMEOUT_MS: int(0, 3_600_000).default(DEFAULTS.shutdownTimeoutMs),
    /**
     * How long a worker's lock on a job lasts without renewal (renewed at half): a dead worker's
     * jobs wait this long.
     */
    JOB_LOCK_MS: int(1000, 3_600_000).default(DEFAULTS.jobLockMs),
    /** How often a worker looks for jobs whose lock expired (stalled) and puts them back on the queue. */
    STALLED_INTERVAL_MS: int(500, 3_600_000).default(DEFAULTS.stalledIntervalMs),
    /**
     * A model version that no worker has announced for this long is forgotten: clients get
     * ERR_MODEL_NOT_FOUND for it, readiness stops claiming it, and workers delete its entry.
     * Workers announce every 15 s; jobs for a model keep queueing while its workers are away for
     * less than this.
     */
    MODEL_EXPIRY_MS: int(60_000, 31_536_000_000).default(DEFAULTS.modelExpiryMs),
    /**
     * Worker: how often it rescans the model repository for versions added or removed (file
     * events also trigger a rescan, but network file systems miss them). 0 turns rescans off.
     */
    MODEL_RESCAN_MS: int(0, 86_400_000).default(DEFAULTS.modelRescanMs),
    /**
     * Worker: after a version is removed from the repository, how long it keeps taking the jobs
     * already queued for it (clients stop sending new ones at once) before it unloads the version.
     */
    MODEL_DRAIN_MS: int(0, 3_600_000).default(DEFAULTS.modelDrainMs),
    PRODUCER_HOST: z.string().min(1).default(DEFAULTS.producerHost),
    PRODUCER_PORT: int(0, 65_535).default(DEFAULTS.producerPort),
    /**
     * Connections the kernel holds for the producer before it accepts them (capped by
     * net.core.somaxconn). Node's default of 511 overflows in a burst, and the kernel then
     * resets connections.
     */
    PRODUCER_BACKLOG: int(1, 65_535).default(DEFAULTS.producerBacklog),
    /**
     * Port of the producer's gRPC API (Open Inference Protocol v2,
     * `inference.GRPCInferenceService`; Triton and KServe use 8001). Unset: no gRPC server. `0`
     * picks a free port.
     */
    GRPC_PORT: int(0, 65_535).optional(),
    /** Address the gRPC API listens on; unset: PRODUCER_HOST. */
    GRPC_HOST: z.string().min(1).optional(),
    /** Largest HTTP request body, in bytes. */
    MAX_BODY_BYTES: int(1024, 2 ** 31 - 1).default(DEFAULTS.maxBodyBytes),
    /**
     * Largest ONNX file the producer accepts on POST /v1/models/{name}/versions, in bytes. ONNX
     * files are single protobuf messages, which cannot exceed 2 GiB.
     */
    MAX_MODEL_UPLOAD_BYTES: int(1024, 2 ** 31 - 1).default(DEFAULTS.maxModelUploadBytes),
    /** Most jobs not yet started a model's queue may hold; work beyond it is refused with 429. */
    MAX_QUEUE_DEPTH: int(1, 100_000_000).default(DEFAULTS.maxQueueDepth),
    /** Per-model MAX_QUEUE_DEPTH overrides, as JSON: `{"iris": 500}`. */
    QUEUE_DEPTH_BY_MODEL: QueueDepthsSchema,
    /** Producer API keys, `name:scope:secret,...` (scope infer or admin); empty turns auth off. */
    API_KEYS: ApiKeysSchema,
    /**
     * Signs webhook deliveries (Standard Webhooks, HMAC-SHA256): one or more secrets separated by
     * commas or spaces, each `whsec_<base64 of 24-64 bytes>`, or 16+ printable characters taken as
     * the key's UTF-8 bytes (the older form). Every delivery carries one signature per secret, so
     * keys rotate without dropped deliveries. Read as `whsec_` secrets; unset refuses callbacks.
     */
    WEBHOOK_SECRET: z
      .string()
      .optional()
      .transform((list, ctx) => {
        if (list === undefined) return undefined;
        const secrets = list.split(/[\s,]+/).filter(Boolean);
        const read = secrets.map((secret, index) => {
          const base64 = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret)?.[1];
          const bytes = base64 === undefined ? 0 : Buffer.from(base64, 'base64').length;
          if (bytes >= 24 && bytes <= 64) return secret;
          if (!secret.startsWith('whsec_') && /^[\x21-\x7e]{16,1024}$/.test(secret))
            return `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;
          ctx.addIssue({
            code: 'custom',
            path: [index],
            message: 'a secret whsec_<base64 of 24-64 bytes>, or 16-1024 printable characters',
          });
          return '';
        });
        if (new Set(read).size !== read.length)
          ctx.addIssue({ code: 'custom', message: 'repeats a secret' });
        return read.length === 0 ? undefined : Object.freeze(read);
      }),
    /** Tries per webhook delivery (network errors, 5xx, 408 and 429 are retried). */
    WEBHOOK_MAX_ATTEMPTS: int(1, 100).default(DEFAULTS.webhookMaxAttempts),
    /** First webhook retry delay, doubled each try. */
    WEBHOOK_BACKOFF_MS: int(0, 3_600_000).default(DEFAULTS.webhookBackoffMs),
    /** How long one webhook POST may take before it counts as a network error. */
    WEBHOOK_TIMEOUT_MS: int(1, 300_000).default(DEFAULTS.webhookTimeoutMs),
    /** Webhook deliveries one producer sends at once. */
    WEBHOOK_CONCURRENCY: int(1, 1024).default(DEFAULTS.webhookConcurrency),
    /** Lets callback URLs reach loopback, private and link-local addresses (off: no SSRF). */
    WEBHOOK_ALLOW_PRIVATE: z
      .enum(['true', 'false'], { message: 'true or false' })
      .default('false')
      .transform((value) => value === 'true'),
    /** Callback host names (or addresses) exempt from the private-address check. */
    WEBHOOK_ALLOWED_HOSTS: z
      .string()
      .default('')
      .transform((list) =>
        Object.freeze(
          list
            .split(',')
            .map((host) => host.trim().toLowerCase())
            .filter(Boolean),
        ),
      ),
    /**
     * Worker: share of completed jobs of a version with a model.json `baseline` whose inputs are
     * counted for drift, 0 to 1. 0 counts nothing.
     */
    DRIFT_SAMPLE: z.coerce.number().min(0).max(1).default(DEFAULTS.driftSample),
    /** Worker: how often its drift counts are added to Redis, in ms. */
    DRIFT_FLUSH_MS: int(100, 600_000).default(DEFAULTS.driftFlushMs),
    /** Worker: the time slice drift counts are kept by, in ms; windows are read in whole slices. */
    DRIFT_SLICE_MS: int(1000, 3_600_000).default(DEFAULTS.driftSliceMs),
    /** Producer: how often drift and accuracy alerts are checked, in ms; 0 checks none. */
    DRIFT_ALERT_INTERVAL_MS: int(0, 3_600_000).default(DEFAULTS.driftAlertIntervalMs),
    /** Requests one API key (or client address when auth is off) may make per window; 0 = off. */
    RATE_LIMIT_MAX: int(0, 100_000_000).default(DEFAULTS.rateLimitMax),
    /** The rate limit window, in ms. */
    RATE_LIMIT_WINDOW_MS: int(1000, 86_400_000).default(DEFAULTS.rateLimitWindowMs),
    /**
     * Where the counts live: `redis` (shared by every producer replica, one Redis call per
     * request) or `memory` (each replica counts alone).
     */
    RATE_LIMIT_STORE: z.enum(['redis', 'memory']).default(DEFAULTS.rateLimitStore),
    /** Interval of the comment lines that keep a job's event stream (SSE) open. */
    SSE_HEARTBEAT_MS: int(100, 300_000).default(DEFAULTS.sseHeartbeatMs),
    /** Most jobs one batch request may hold. */
    BATCH_MAX_ITEMS: int(1, 1_000_000).default(DEFAULTS.batchMaxItems),
    /** Producer: how often the dashboard's history reads the status, in ms. */
    STATUS_SAMPLE_MS: int(100, 600_000).default(DEFAULTS.statusSampleMs),
    /** Producer: how much status history the dashboard keeps and serves, in ms. */
    STATUS_HISTORY_MS: int(10_000, 86_400_000).default(DEFAULTS.statusHistoryMs),
    /**
     * Worker: share of completed predictions written to their model's prediction log, 0 to 1,
     * for models whose model.json sets no `log.sample`. 0 logs nothing.
     */
    PREDICTION_LOG_SAMPLE: z.coerce.number().min(0).max(1).default(DEFAULTS.predictionLogSample),
    /** Worker: most entries one model's prediction log keeps; the oldest go first. */
    PREDICTION_LOG_MAX_LEN: int(1, 100_000_000).default(DEFAULTS.predictionLogMaxLen),
    /** Worker: most bytes one model's prediction log keeps; the oldest entries go first. */
    PREDICTION_LOG_MAX_BYTES: int(1024, Number.MAX_SAFE_INTEGER).default(
      DEFAULTS.predictionLogMaxBytes,
    ),
    /** Producer: most entries one model's feedback stream keeps (approximately). */
    FEEDBACK_MAX_LEN: int(100, 100_000_000).default(DEFAULTS.feedbackMaxLen),
    /** Producer and SDK: the share of a shadowed alias's requests copied to its shadow. */
    SHADOW_SAMPLE: z.coerce.number().min(0).max(1).default(DEFAULTS.shadowSample),
  })
  .strict();

export type Config = Readonly<z.output<typeof ConfigSchema>>;

/** The variable names ConfigSchema reads. */
export const CONFIG_KEYS = Object.freeze(Object.keys(ConfigSchema.shape) as (keyof Config)[]);

/**
 * Reads and validates the configuration in one pass from an env-like object, treating empty
 * strings as unset, and throws ERR_CONFIG_INVALID listing every problem. Only this reads env.
 * A REDIS_URL `redis+sentinel://host:port,…/<name>` or `redis+cluster://host:port,…` is read as
 * the plain REDIS_URL with REDIS_SENTINELS and REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const picked: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') picked[key] = value.trim();
  }
  const topologyIssues = expandTopologyUrl(picked);
  topologyIssues.push(...redisTopologyIssues(picked));
  const parsed = ConfigSchema.safeParse(picked);
  if (!parsed.success || topologyIssues.length > 0) {
    const issues = [...(parsed.success ? [] : zodIssues(parsed.error)), ...topologyIssues];
    throw new ConveyorError(
      'ERR_CONFIG_INVALID',
      `invalid configuration: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { issues },
    );
  }
  return Object.freeze({
    ...parsed.data,
    MODELS: Object.freeze([...parsed.data.MODELS]) as string[],
  });
}

type ConfigIssue = { path: string; message: string };

/**
 * A `redis+sentinel://` or `redis+cluster://` REDIS_URL becomes a plain REDIS_URL (credentials,
 * TLS, database) and the REDIS_SENTINELS / REDIS_SENTINEL_NAME or REDIS_CLUSTER_NODES it names,
 * written into `picked`; the issues say what is wrong with it.
 */
function expandTopologyUrl(picked: Record<string, string>): ConfigIssue[] {
  const url = picked.REDIS_URL;
  const parsed = url === undefined ? undefined : parseTopologyUrl(url);
  if (parsed === undefined) return [];
  if (typeof parsed === 'string') return [{ path: 'REDIS_URL', message: parsed }];
  const settings: Record<string, string | undefined> = {
    REDIS_CLUSTER_NODES: parsed.cluster?.join(','),
    REDIS_SENTINELS: parsed.sentinels?.join(','),
    REDIS_SENTINEL_NAME: parsed.sentinelName,
  };
  const issues: ConfigIssue[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (picked[key] !== undefined)
      issues.push({
        path: key,
        message: `set either ${key} or a REDIS_URL of the form redis+sentinel:// or redis+cluster://, not both`,
      });
    else if (value !== undefined) picked[key] = value;
  }
  picked.REDIS_URL = parsed.url;
  return issues;
}

/** Sentinel needs both of its settings, and excludes a cluster. */
function redisTopologyIssues(picked: Readonly<Record<string, string>>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const sentinels = picked.REDIS_SENTINELS !== undefined;
  const name = picked.REDIS_SENTINEL_NAME !== undefined;
  if (sentinels && !name)
    issues.push({
      path: 'REDIS_SENTINEL_NAME',
      message: 'required with REDIS_SENTINELS: the master group name the sentinels watch',
    });
  if (name && !sentinels)
    issues.push({
      path: 'REDIS_SENTINELS',
      message: 'required with REDIS_SENTINEL_NAME: the host:port of the sentinels',
    });
  if (sentinels && picked.REDIS_CLUSTER_NODES !== undefined)
    issues.push({
      path: 'REDIS_SENTINELS',
      message:
        'set REDIS_SENTINELS (a Sentinel-managed master) or REDIS_CLUSTER_NODES (a Redis Cluster), not both',
    });
  return issues;
}

/** The Redis URL with its password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}
