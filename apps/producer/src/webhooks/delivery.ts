import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { z } from 'zod';
import {
  isConveyorError,
  parseOrThrow,
  redisOptions,
  throttledErrorLog,
  type Config,
  type Logger,
  queuePrefix,
  createRedisClient,
  configTarget,
  type RedisClient,
  type RedisConfig,
} from '@conveyor/shared';
import { JOB_ID_HEADER } from '../plugins/error-handler.js';
import type { JobOutcome } from '../jobs/jobs-schemas.js';
import {
  assertCallbackAllowed,
  callbackPolicyOf,
  connectLookup,
  type CallbackPolicy,
} from './allow.js';
import { createSigner } from './signature.js';

/** The BullMQ queue of webhook deliveries, shared by every producer replica. */
export const CALLBACKS_QUEUE = 'callbacks';

/** A delivery as it sits on the callbacks queue; re-validated when a worker takes it. */
const DeliverySchema = z
  .object({
    v: z.literal(1),
    url: z.string().url(),
    job_id: z.string(),
    /** The Standard Webhooks `webhook-id`: the same on every retry, receivers de-duplicate by it. */
    delivery_id: z.string(),
    /** The exact JSON text that is signed and sent. */
    body: z.string(),
  })
  .strict();

type Delivery = z.infer<typeof DeliverySchema>;

type DeliveryConfig = Pick<
  Config,
  | keyof RedisConfig
  | 'REDIS_KEY_PREFIX'
  | 'EVENTS_MAX_LEN'
  | 'WEBHOOK_MAX_ATTEMPTS'
  | 'WEBHOOK_BACKOFF_MS'
  | 'WEBHOOK_TIMEOUT_MS'
  | 'WEBHOOK_CONCURRENCY'
  | 'KEEP_COMPLETED_JOBS'
  | 'KEEP_COMPLETED_AGE_S'
  | 'KEEP_FAILED_JOBS'
  | 'KEEP_FAILED_AGE_S'
  | 'WEBHOOK_ALLOW_PRIVATE'
  | 'WEBHOOK_ALLOWED_HOSTS'
>;

/** The callbacks queue (for adding deliveries and for the dashboard). */
export function createCallbacksQueue(redis: RedisClient, config: DeliveryConfig): Queue {
  return new Queue(CALLBACKS_QUEUE, {
    connection: redis,
    prefix: queuePrefix(config.REDIS_KEY_PREFIX, CALLBACKS_QUEUE),
    streams: { events: { maxLen: config.EVENTS_MAX_LEN } },
  });
}

/**
 * Queues the delivery of one job's outcome. Its BullMQ job id is the predict job's id, so a
 * second add for the same job (another replica, a sweep after a restart) is a no-op while the
 * first delivery is kept.
 */
export async function addDelivery(
  queue: Queue,
  config: DeliveryConfig,
  url: string,
  outcome: JobOutcome,
): Promise<void> {
  const delivery: Delivery = {
    v: 1,
    url,
    job_id: outcome.job_id,
    delivery_id: randomUUID(),
    body: JSON.stringify(outcome),
  };
  await queue.add('deliver', delivery, {
    jobId: outcome.job_id,
    attempts: config.WEBHOOK_MAX_ATTEMPTS,
    backoff: { type: 'exponential', delay: config.WEBHOOK_BACKOFF_MS },
    removeOnComplete: { count: config.KEEP_COMPLETED_JOBS, age: config.KEEP_COMPLETED_AGE_S },
    removeOnFail: { count: config.KEEP_FAILED_JOBS, age: config.KEEP_FAILED_AGE_S },
  });
}

/**
 * Queues the delivery of an event that is no job's outcome (a drift or accuracy alert): `id` is
 * its BullMQ job id, so a second add with the same id is a no-op, and is sent in the job id header.
 */
export async function addEventDelivery(
  queue: Queue,
  config: DeliveryConfig,
  event: { url: string; id: string; body: string },
): Promise<void> {
  const delivery: Delivery = {
    v: 1,
    url: event.url,
    job_id: event.id,
    delivery_id: randomUUID(),
    body: event.body,
  };
  await queue.add('deliver', delivery, {
    jobId: event.id,
    attempts: config.WEBHOOK_MAX_ATTEMPTS,
    backoff: { type: 'exponential', delay: config.WEBHOOK_BACKOFF_MS },
    removeOnComplete: { count: config.KEEP_COMPLETED_JOBS, age: config.KEEP_COMPLETED_AGE_S },
    removeOnFail: { count: config.KEEP_FAILED_JOBS, age: config.KEEP_FAILED_AGE_S },
  });
}

/**
 * POSTs `body` and resolves with the status once the answer is read. The connection resolves the
 * host through `lookup` (connectLookup: the addresses it connects to are the ones it checked);
 * redirects are not followed; the whole exchange is bounded by `timeoutMs`.
 */
function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  lookup: LookupFunction,
): Promise<number> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      target,
      {
        method: 'POST',
        lookup,
        signal: AbortSignal.timeout(timeoutMs),
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (response) => {
        // The receiver's answer is not used; reading it frees the connection.
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', reject);
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

/**
 * What a delivery failure log shows of an error: its code and message, never the whole object (a
 * TLS error's `cert` holds the peer certificate, kilobytes on every line).
 */
export function errorSummary(error: unknown): { code?: string; message: string } {
  if (!(error instanceof Error)) return { message: String(error) };
  const { code } = error as { code?: unknown };
  return { ...(typeof code === 'string' && { code }), message: error.message };
}

/** Statuses worth another try: a timeout, rate limiting, and every server error. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Sends one delivery: POSTs the body, signed per Standard Webhooks with a fresh timestamp. Resolves
 * on 2xx; throws a plain Error (retried with backoff) on network errors, timeouts, 408, 429 and
 * 5xx, and an UnrecoverableError (final) on any other status, redirects included.
 */
export function createDeliveryProcessor(
  config: Pick<Config, 'WEBHOOK_TIMEOUT_MS' | 'WEBHOOK_ALLOW_PRIVATE' | 'WEBHOOK_ALLOWED_HOSTS'>,
  /** The WEBHOOK_SECRET secrets (`whsec_...`); each delivery is signed with every one. */
  secrets: readonly string[],
  log: Logger,
  /** The resolver of the checks; node:dns by default. For tests. */
  resolver?: CallbackPolicy['lookup'],
) {
  const policy: CallbackPolicy = {
    ...callbackPolicyOf(config),
    ...(resolver !== undefined && { lookup: resolver }),
  };
  const lookup = connectLookup(policy);
  const sign = createSigner(secrets);
  return async (job: Job): Promise<{ status: number }> => {
    const delivery = parseOrThrow(DeliverySchema, job.data, `delivery ${job.id}`);
    const fields = {
      jobId: delivery.job_id,
      deliveryId: delivery.delivery_id,
      attempt: job.attemptsMade + 1,
    };
    try {
      // Again at delivery: the name may resolve elsewhere by now (DNS rebinding).
      await assertCallbackAllowed(delivery.url, policy);
    } catch (error) {
      log.warn({ ...fields, error: errorSummary(error) }, 'webhook not allowed');
      // A failed lookup may pass on a later try; a non-public address is final.
      if (isConveyorError(error) && error.details.reason === 'unresolved')
        throw new Error('callback_url host does not resolve');
      throw new UnrecoverableError('callback_url is not allowed');
    }
    let status: number;
    try {
      status = await post(
        delivery.url,
        delivery.body,
        {
          'content-type': 'application/json',
          'user-agent': 'conveyor-webhooks',
          // A fresh timestamp on each try; the id stays, so a receiver drops a repeat.
          ...sign(delivery.delivery_id, new Date(), delivery.body),
          [JOB_ID_HEADER]: delivery.job_id,
        },
        config.WEBHOOK_TIMEOUT_MS,
        lookup,
      );
    } catch (error) {
      // Code and message only: a TLS error carries the peer's whole certificate (`cert`).
      log.warn({ ...fields, error: errorSummary(error) }, 'webhook delivery failed');
      // The connection's own check refused the address it was about to reach: final.
      if ((error as { code?: unknown }).code === 'ERR_CALLBACK_NOT_ALLOWED')
        throw new UnrecoverableError('callback_url is not allowed');
      throw new Error(`network error: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (status >= 200 && status < 300) {
      log.info({ ...fields, status }, 'webhook delivered');
      return { status };
    }
    log.warn({ ...fields, status }, 'webhook refused');
    const reason = `receiver answered ${status}`;
    throw retryable(status) ? new Error(reason) : new UnrecoverableError(reason);
  };
}

/** The BullMQ worker that sends deliveries; several replicas share the queue. */
export function createDeliveryWorker(
  config: DeliveryConfig,
  secrets: readonly string[],
  log: Logger,
): Worker {
  // A connection of its own (a cluster's too), which BullMQ does not close with the worker.
  const connection = createRedisClient(
    configTarget(config),
    redisOptions('worker', 'conveyor-producer-webhooks'),
  );
  connection.on('error', throttledErrorLog(log, 'webhook worker connection error'));
  const worker = new Worker(CALLBACKS_QUEUE, createDeliveryProcessor(config, secrets, log), {
    connection,
    prefix: queuePrefix(config.REDIS_KEY_PREFIX, CALLBACKS_QUEUE),
    concurrency: config.WEBHOOK_CONCURRENCY,
  });
  worker.on('error', throttledErrorLog(log, 'webhook worker error'));
  worker.on('closed', () => connection.disconnect());
  return worker;
}
