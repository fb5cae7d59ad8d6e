import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { z } from 'zod';
import {
  DEFAULTS,
  MAX_BACKOFF_MS,
  MAX_TIMEOUT_MS,
  ModelNameSchema,
  SENTINEL_NAME,
  parseRedisNode,
  parseTopologyUrl,
  readDevState,
  redisTarget,
  type Logger,
  type RedisNode,
  type RedisTarget,
  type RedisTopology,
} from '@conveyor/shared';

const RetentionSchema = z
  .object({
    /** Keep at most this many jobs. */
    count: z.number().int().min(0),
    /** Drop jobs older than this, in seconds. */
    ageSeconds: z.number().int().min(0),
  })
  .strict();

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function isRedisUrl(value: string): boolean {
  const topology = parseTopologyUrl(value);
  if (topology !== undefined) return typeof topology !== 'string';
  if (!/^rediss?:\/\//i.test(value) || !URL.canParse(value)) return false;
  return /^\/?\d*$/.test(new URL(value).pathname);
}

const NodeListSchema = z
  .array(z.string().refine((node) => parseRedisNode(node) !== undefined, 'a host:port'))
  .min(1);

/** What the queue client and the embedded client both take, with the same meaning. */
const commonOptions = {
  /** How long `predict` and `result()` wait, in ms. Default 30 000; at most one day. */
  timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).default(DEFAULTS.timeoutMs),
  /** Tries per job for retryable failures. Default 3. */
  attempts: z.number().int().min(1).max(100).default(DEFAULTS.attempts),
  /** First retry delay in ms, doubled each try. Default 1000; at most one hour. */
  backoffMs: z.number().int().min(0).max(MAX_BACKOFF_MS).default(DEFAULTS.backoffMs),
  /** Completed jobs kept for reading results later. Default 10 000 jobs, 1 hour. */
  keepCompleted: RetentionSchema.default(() => ({ ...DEFAULTS.keepCompleted })),
  /** Failed jobs kept. Default 10 000 jobs, 1 day. */
  keepFailed: RetentionSchema.default(() => ({ ...DEFAULTS.keepFailed })),
  /** Largest tensor accepted, in bytes. Default 64 MiB. */
  maxTensorBytes: z.number().int().positive().default(DEFAULTS.maxTensorBytes),
  /** A pino-compatible logger; default silent. */
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && 'child' in v).optional(),
};

/** Options of `createClient`; every field is optional. */
export const ClientOptionsSchema = z
  .object({
    /**
     * Redis to connect to. Default: the Redis of a `conveyor dev` running from the working
     * directory (its `.conveyor/dev.json`), else `redis://127.0.0.1:6379`. `rediss://` turns TLS
     * on; user name, password and database number may be in the URL
     * (`redis://user:pass@host:6379/2`). `redis+sentinel://host:port,host:port/mymaster` and
     * `redis+cluster://host:port,host:port` name a Sentinel group or a cluster in place of
     * `sentinels` and `clusterNodes`.
     */
    redisUrl: z
      .string()
      .refine(isRedisUrl, {
        message:
          'a redis:// or rediss:// URL, with at most a database number as its path, or a redis+sentinel:// or redis+cluster:// URL',
      })
      .default(DEFAULTS.redisUrl),
    /**
     * Seed nodes of a Redis Cluster (`host:port` each; the REDIS_CLUSTER_NODES of the workers):
     * set, the client speaks the cluster protocol and takes only credentials and TLS from
     * `redisUrl`. Default: a single Redis.
     */
    clusterNodes: NodeListSchema.optional(),
    /**
     * Sentinels of a Sentinel-managed master (`host:port` each; the REDIS_SENTINELS of the
     * workers), with `sentinelName`: set, the client connects to the master they name and follows
     * a failover, taking credentials, TLS and the database from `redisUrl`. Default: none.
     */
    sentinels: NodeListSchema.optional(),
    /** The master group name the sentinels watch (REDIS_SENTINEL_NAME); required with `sentinels`. */
    sentinelName: z.string().regex(SENTINEL_NAME).optional(),
    /** Redis password; overrides one in the URL. */
    password: z.string().min(1).optional(),
    /** Redis ACL user name; overrides one in the URL. */
    username: z.string().min(1).optional(),
    /**
     * TLS: `true`, or Node's `tls.connect` options (`ca`, `cert`, `key`, `servername`, ...) passed
     * to ioredis as they are; `false` turns it off. Default: on for `rediss://` URLs.
     */
    tls: z.union([z.boolean(), z.custom<TlsOptions>(isPlainObject)]).optional(),
    /**
     * Prefix of every Redis key; must match the workers'. Default `conveyor` (or, when `redisUrl`
     * is not given either, the prefix of a `conveyor dev` running from the working directory).
     */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/)
      .default(DEFAULTS.prefix),
    /** Approximate cap of each queue's event stream. Default 10 000. */
    eventsMaxLen: z.number().int().min(100).default(DEFAULTS.eventsMaxLen),
    /** Approximate cap of each model's feedback stream (FEEDBACK_MAX_LEN). Default 100 000. */
    feedbackMaxLen: z.number().int().min(100).default(DEFAULTS.feedbackMaxLen),
    /**
     * The share of the requests routed through an alias with a shadow that are copied to it
     * (SHADOW_SAMPLE), from 0 to 1. Default 1: every one. A shadow's work runs on the workers'
     * capacity; a sample bounds what it takes.
     */
    shadowSample: z.number().min(0).max(1).default(DEFAULTS.shadowSample),
    /**
     * Whether `enqueue` and `enqueueMany` keep the end of each job they add in memory (until
     * `timeoutMs`, at most 50 000), so that its handle's first `result()` needs no read of the job
     * (an end handed to a `result()` already waiting is not kept: a second one reads the job).
     * Default true. Keeping them means reading every event of the models' queues while such a job
     * runs; a producer that hands job ids to others (HTTP 202) sets false: a later wait then reads
     * the job once instead.
     */
    keepJobEnds: z.boolean().default(true),
    /** How long the model catalogue read from Redis is reused, in ms. Default 5000. */
    catalogueTtlMs: z.number().int().min(0).default(DEFAULTS.catalogueTtlMs),
    /**
     * A model version that no worker has announced for this long is treated as gone
     * (ERR_MODEL_NOT_FOUND); workers announce every 15 s. Match the workers' MODEL_EXPIRY_MS.
     * Default 600 000 (10 minutes).
     */
    modelExpiryMs: z.number().int().min(60_000).default(DEFAULTS.modelExpiryMs),
    /**
     * Inputs of at least this many bytes are stored as raw bytes beside their job instead of in
     * its JSON (no base64, no JSON parsing of the data in Redis or the worker). Default 16 KiB;
     * 0 stores every input that way, and a very large value none.
     */
    blobThresholdBytes: z.number().int().min(0).default(DEFAULTS.blobThresholdBytes),
    /**
     * How long stored inputs live at most, in seconds, should their job never finish (the worker
     * deletes them when it does). A job still waiting after this fails with ERR_PAYLOAD_INVALID.
     * Default 7 days.
     */
    blobTtlSeconds: z.number().int().min(60).default(DEFAULTS.blobTtlSeconds),
    ...commonOptions,
  })
  .strict()
  .superRefine((options, ctx) => {
    const sentinels = options.sentinels !== undefined;
    const named = options.sentinelName !== undefined;
    const inUrl = parseTopologyUrl(options.redisUrl) !== undefined;
    if (sentinels !== named)
      ctx.addIssue({
        code: 'custom',
        path: [sentinels ? 'sentinelName' : 'sentinels'],
        message: 'sentinels and sentinelName go together',
      });
    if ([sentinels || named, options.clusterNodes !== undefined, inUrl].filter(Boolean).length > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['sentinels'],
        message:
          'give one of sentinels (with sentinelName), clusterNodes, or a redis+sentinel:// or redis+cluster:// redisUrl',
      });
  });

export type ClientOptions = z.input<typeof ClientOptionsSchema>;
export type ResolvedClientOptions = z.output<typeof ClientOptionsSchema>;

/**
 * A client's options with the Redis (and key prefix) of a `conveyor dev` running from the working
 * directory when `redisUrl` is not given: its `.conveyor/dev.json`, read only there, and only
 * while its process lives (a stale, garbled or absent file changes nothing). `devState` says
 * whether it was used.
 */
export function withDevState(options: ClientOptions): {
  options: ClientOptions;
  devState?: { redisUrl: string; prefix: string; pid: number };
} {
  if (
    typeof options !== 'object' ||
    options === null ||
    options.redisUrl !== undefined ||
    options.clusterNodes !== undefined ||
    options.sentinels !== undefined
  )
    return { options };
  const dev = readDevState(process.cwd());
  if (dev === undefined) return { options };
  return {
    options: { ...options, redisUrl: dev.redisUrl, prefix: options.prefix ?? dev.prefix },
    devState: { redisUrl: dev.redisUrl, prefix: dev.prefix, pid: dev.pid },
  };
}

/** Options of `createEmbeddedClient`: where the models are, and how to run them in-process. */
export const EmbeddedClientOptionsSchema = z
  .object({
    /** The model repository folder (`<name>/<version>/model.onnx` and `model.json`). */
    repository: z.string().min(1),
    /** Serve only these models; default every model of the repository. */
    models: z.array(ModelNameSchema).min(1).optional(),
    /** Inference threads of each model version that does not set its own. Default 1. */
    threads: z.number().int().min(1).max(64).optional(),
    /**
     * Jobs handed to the engine at once; more wait, in priority order, as on a queue. Jobs handed
     * over together are batched by the engine. Default 32.
     */
    concurrency: z.number().int().min(1).max(4096).default(DEFAULTS.workerConcurrency),
    ...commonOptions,
  })
  .strict();

export type EmbeddedClientOptions = z.input<typeof EmbeddedClientOptionsSchema>;
export type ResolvedEmbeddedClientOptions = z.output<typeof EmbeddedClientOptionsSchema>;

const nodesOf = (list: readonly string[]) => list.map((node) => parseRedisNode(node) as RedisNode);

/** The plain URL and the cluster or Sentinel group of a client's options (validated already). */
function topologyOf(config: ResolvedClientOptions): { url: string; topology?: RedisTopology } {
  const inUrl = parseTopologyUrl(config.redisUrl);
  if (inUrl !== undefined && typeof inUrl !== 'string') {
    const topology = inUrl.sentinels
      ? { sentinels: nodesOf(inUrl.sentinels), name: inUrl.sentinelName ?? '' }
      : nodesOf(inUrl.cluster ?? []);
    return { url: inUrl.url, topology };
  }
  if (config.sentinels && config.sentinelName !== undefined)
    return {
      url: config.redisUrl,
      topology: { sentinels: nodesOf(config.sentinels), name: config.sentinelName },
    };
  if (config.clusterNodes) return { url: config.redisUrl, topology: nodesOf(config.clusterNodes) };
  return { url: config.redisUrl };
}

/**
 * Where a client's connections go: host, port, database, credentials and TLS from the URL (or the
 * cluster's nodes, or the Sentinel group), overridden by the explicit `username`, `password` and
 * `tls` options.
 */
export function redisConnectionOptions(config: ResolvedClientOptions): RedisTarget {
  const { url, topology } = topologyOf(config);
  const options = redisTarget(url, topology);
  if (config.username !== undefined) options.username = config.username;
  if (config.password !== undefined) options.password = config.password;
  if (config.tls === false) delete options.tls;
  else if (config.tls !== undefined) options.tls = config.tls === true ? {} : config.tls;
  return options;
}
