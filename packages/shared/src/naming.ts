import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ModelNameSchema } from './schemas/names.js';

/** The BullMQ queue that holds jobs for one model (BullMQ forbids ":" in queue names). */
export function queueName(model: string): string {
  return `predict.${ModelNameSchema.parse(model)}`;
}

/** The model a queue name belongs to, or undefined for other queues. */
export function modelOfQueue(queue: string): string | undefined {
  return queue.startsWith('predict.') ? queue.slice('predict.'.length) : undefined;
}

/**
 * The Redis hash where workers publish the signature of each model version they serve, one field
 * `<model>@<version>` each (a CatalogueEntry as JSON), re-written every CATALOGUE_HEARTBEAT_MS.
 */
export function catalogueKey(prefix: string): string {
  return `${prefix}:catalogue`;
}

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
 * A job id that is unique across every model's queue and names its model, so that a job can be
 * found from its id alone: `<model>.<uuid>`, or `<model>.k-<hash>` for an idempotency key (the same
 * key on the same model always gives the same id). Model names never contain ".".
 */
export function newJobId(model: string, idempotencyKey?: string): string {
  const name = ModelNameSchema.parse(model);
  if (idempotencyKey === undefined) return `${name}.${randomUUID()}`;
  const digest = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32);
  return `${name}.k-${digest}`;
}

/** The shape of every job id Conveyor gives out. */
export const JobIdSchema = z
  .string()
  .max(160)
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}\.[A-Za-z0-9-]{1,64}$/, {
    message: 'job ids look like "<model>.<uuid>", as enqueue returned them',
  });

/** The model a job id belongs to; throws a ZodError for a string that is not a job id. */
export function modelOfJobId(id: string): string {
  const valid = JobIdSchema.parse(id);
  return valid.slice(0, valid.indexOf('.'));
}

/** Where the raw bytes of a job's large input are stored (see BlobTensorSchema). */
export function blobKey(prefix: string, jobId: string, input: string): string {
  return `${prefix}:blob:${jobId}:${input}`;
}
