import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { ModelNameSchema, ModelVersionSchema } from './schemas/names.js';
import { withRandomUuid } from './random-uuid.js';

/**
 * The BullMQ queue that holds jobs for one version of a model: `predict.<model>.<version>`
 * (BullMQ forbids ":" in queue names). A queue per version means a job is only ever taken by a
 * worker that serves its version.
 */
export function queueName(model: string, version: string): string {
  const name = MODEL_NAME.test(model) ? model : ModelNameSchema.parse(model);
  return `predict.${name}.${VERSION.test(version) ? version : ModelVersionSchema.parse(version)}`;
}

/** The model version a queue name belongs to, or undefined for other queues. */
export function modelOfQueue(queue: string): { model: string; version: string } | undefined {
  const match = /^predict\.([a-z0-9][a-z0-9_-]{0,63})\.([1-9][0-9]{0,8})$/.exec(queue);
  return match ? { model: match[1] as string, version: match[2] as string } : undefined;
}

/**
 * The Redis hash where workers publish the signature of each model version they serve, one field
 * `<model>@<version>@<worker id>` per worker (a CatalogueEntry as JSON), re-written every
 * CATALOGUE_HEARTBEAT_MS and deleted by the worker when it stops serving the version.
 */
export function catalogueKey(prefix: string): string {
  return groupKey(prefix, 'meta', 'catalogue');
}

/** The catalogue field of one version served by one worker. */
export function catalogueField(model: string, version: string, worker: string): string {
  return `${model}@${version}@${worker}`;
}

/** The Redis hash of every model's aliases: field `<model>`, value ModelAliases as JSON. */
export function aliasesKey(prefix: string): string {
  return groupKey(prefix, 'meta', 'aliases');
}

/** The bounded list of one model's alias changes, newest first (AliasChange as JSON). */
export function aliasHistoryKey(prefix: string, model: string): string {
  return groupKey(prefix, 'meta', 'alias-history', ModelNameSchema.parse(model));
}

/**
 * The pub/sub channel on which a model's name is published when its aliases change or a worker
 * stops serving one of its versions, so that clients drop their cached copies at once.
 */
export function modelsChannel(prefix: string): string {
  return `${prefix}:models-changed`;
}

/** The pub/sub channel that asks every worker to rescan its model repository now. */
export function rescanChannel(prefix: string): string {
  return `${prefix}:models-rescan`;
}

/**
 * Where an idempotency key's record is kept (the version its job went to, the fingerprint of its
 * request, when it was first seen), by the key's digest (see idempotencyDigest).
 */
export function idempotencyRecordKey(prefix: string, digest: string): string {
  return `${prefix}:idem:${digest}`;
}

/** Where the secret that turns idempotency keys into job ids is kept, one per prefix. */
export function idempotencySecretKey(prefix: string): string {
  return `${prefix}:idem-secret`;
}

/**
 * Where each worker stamps, every WORKER_BEAT_MS, that its event loop runs and Redis answers it: a
 * sorted set of worker ids scored by the Redis server's clock (ms).
 */
export function workerBeatsKey(prefix: string): string {
  return groupKey(prefix, 'meta', 'worker-beats');
}

/**
 * A worker's heartbeat record (WorkerRecordSchema, JSON), rewritten every WORKER_BEAT_MS with a
 * time to live of WORKER_RECORD_TTL_MS: a worker that dies disappears by itself. The ids to read
 * come from workerBeatsKey.
 */
export function workerRecordKey(prefix: string, worker: string): string {
  return groupKey(prefix, 'meta', 'worker', worker);
}

/** How long a worker's record outlives its last beat. */
export const WORKER_RECORD_TTL_MS = 30_000;

/** How often a worker stamps its beat (see workerBeatsKey). */
export const WORKER_BEAT_MS = 1000;

/**
 * A worker whose last beat is older than this is not live, whatever connections it left open: a
 * frozen process (SIGSTOP, a hung host) keeps its sockets but stops beating.
 */
export const WORKER_SILENT_MS = 4000;

/** How often a worker re-announces the model versions it serves. */
export const CATALOGUE_HEARTBEAT_MS = 15_000;

/** The default of MODEL_EXPIRY_MS: a version no worker announced for this long is forgotten. */
export const DEFAULT_MODEL_EXPIRY_MS = 600_000;

/**
 * Milliseconds since the epoch from a reply of Redis's TIME (`[seconds, microseconds]`).
 * Announcements are stamped and judged by the Redis server's clock, the one clock every worker and
 * client of a deployment share, so a machine whose own clock is off neither forgets live models
 * nor keeps dead ones.
 */
export function msFromRedisTime(reply: unknown): number {
  if (Array.isArray(reply) && reply.length === 2) {
    const [seconds, micros] = reply.map(Number);
    if (Number.isSafeInteger(seconds) && Number.isSafeInteger(micros))
      return (seconds as number) * 1000 + Math.floor((micros as number) / 1000);
  }
  throw new Error(`unexpected reply to TIME: ${JSON.stringify(reply)}`);
}

/**
 * A job id that is unique across every queue and names its model and version, so that a job's
 * queue is found from its id alone: `<model>.<version>.<uuid>`, or `<model>.<version>.<digest>`
 * for an idempotency key (see idempotencyDigest). Model names and versions never contain ".".
 */
export function newJobId(model: string, version: string, keyDigest?: string): string {
  // A regex test on the hot path; zod only to throw its error.
  const name = MODEL_NAME.test(model) ? model : ModelNameSchema.parse(model);
  const v = VERSION.test(version) ? version : ModelVersionSchema.parse(version);
  const base = `${name}.${v}.`;
  return keyDigest === undefined ? withRandomUuid(base) : base + keyDigest;
}

const MODEL_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;
const JOB_ID = /^[a-z0-9][a-z0-9_-]{0,63}\.[1-9][0-9]{0,8}\.[A-Za-z0-9-]{1,64}$/;

/**
 * `k-` and 32 hex digits of an HMAC-SHA256 of the owner and the key under a secret kept in Redis:
 * the same owner and key always give the same digest (and job id), two owners never share one, and
 * nobody without the secret can derive a job id from a key.
 */
export function idempotencyDigest(secret: string, owner: string, idempotencyKey: string): string {
  const mac = createHmac('sha256', secret).update(`${owner}\n${idempotencyKey}`);
  return `k-${mac.digest('hex').slice(0, 32)}`;
}

/** The shape of every job id Conveyor gives out. */
export const JobIdSchema = z.string().max(160).regex(JOB_ID, {
  message: 'job ids look like "<model>.<version>.<uuid>", as enqueue returned them',
});

/** The model, version and BullMQ queue of a job id. */
export interface JobRoute {
  readonly model: string;
  readonly version: string;
  readonly queue: string;
}

/**
 * The route of a job id; throws a ZodError for a string that is not a job id. The route of each
 * `<model>.<version>` is parsed once and then shared (frozen): no allocation per call, which a
 * client makes several times per job.
 */
export function routeOfJobId(id: string): JobRoute {
  const valid = JOB_ID.test(id) ? id : JobIdSchema.parse(id);
  // `<model>.<version>` (the rest has no dot).
  const head = valid.slice(0, valid.lastIndexOf('.'));
  let route = ROUTES.get(head);
  if (route === undefined) {
    const dot = head.indexOf('.');
    const model = head.slice(0, dot);
    const version = head.slice(dot + 1);
    route = Object.freeze({ model, version, queue: queueName(model, version) });
    if (ROUTES.size >= MAX_ROUTES) ROUTES.clear();
    ROUTES.set(head, route);
  }
  return route;
}

/** The routes routeOfJobId parsed, by `<model>.<version>`; a bounded cache. */
const ROUTES = new Map<string, JobRoute>();
const MAX_ROUTES = 1024;

/** The model a job id belongs to; throws a ZodError for a string that is not a job id. */
export function modelOfJobId(id: string): string {
  return routeOfJobId(id).model;
}

/** The BullMQ queue of a job id; throws a ZodError for a string that is not a job id. */
export function queueOfJobId(id: string): string {
  return routeOfJobId(id).queue;
}

/**
 * Where the raw bytes of a job's large input are stored (see BlobTensorSchema): beside the job,
 * under its model's hash tag, so the job and its inputs are one cluster slot.
 */
export function blobKey(prefix: string, jobId: string, input: string): string {
  return modelKey(prefix, modelOfJobId(jobId), 'blob', jobId, input);
}

/**
 * A Redis key that belongs to one model: `<prefix>:{<model>}:<parts joined by ":">`. The braces are
 * a Redis Cluster hash tag, so every key of one model lives in one slot (a script may touch several
 * of them) while different models spread over the cluster's shards. New per-model keys (prediction
 * log, feedback, shadow and drift statistics) are made here.
 */
export function modelKey(prefix: string, model: string, ...parts: string[]): string {
  const name = MODEL_NAME.test(model) ? model : ModelNameSchema.parse(model);
  return `${prefix}:{${name}}:${parts.join(':')}`;
}

/**
 * The BullMQ prefix of a queue: `<prefix>:{<model>}` for a model version's queue, so that its keys
 * (`<prefix>:{<model>}:predict.<model>.<version>:wait`, equal to `modelKey(prefix, model, queue,
 * 'wait')`) share the model's cluster slot; `<prefix>:{<queue>}` for any other queue. Every Queue,
 * Worker and QueueEvents of Conveyor takes its prefix from here.
 */
export function queuePrefix(prefix: string, queue: string): string {
  const route = modelOfQueue(queue);
  return `${prefix}:{${route ? route.model : queue}}`;
}

/** The Redis key `<suffix>` of a BullMQ queue (`events`, `wait`, a job id...), see queuePrefix. */
export function queueKey(prefix: string, queue: string, suffix: string): string {
  return `${queuePrefix(prefix, queue)}:${queue}:${suffix}`;
}

/**
 * A key of Conveyor's own state that belongs to no model: `<prefix>:{_<group>}:<parts>`. Keys of
 * one group share a cluster slot, so one script or MULTI may touch several of them; no model name
 * starts with "_", so no model's keys share the tag. Groups: `meta` (catalogue, aliases and their
 * history, worker beats and records), `webhooks`.
 */
export function groupKey(prefix: string, group: string, ...parts: string[]): string {
  return `${prefix}:{_${group}}:${parts.join(':')}`;
}

/**
 * The part of a key Redis Cluster hashes to choose its slot: the text between the first "{" and
 * the next "}" when not empty, else the whole key. Keys with one tag are always on one node.
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}
