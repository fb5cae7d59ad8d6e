import { ConveyorError, isConveyorError } from '@conveyor/shared';
import { createAliasStore } from '../aliases.js';
import { createCatalogue, withLiveWorkers } from '../catalogue.js';
import type { ConveyorClient, ModelInfo, Outputs, QueueClient } from '../client.js';
import { createIdempotency } from '../idempotency.js';
import { watchModelChanges } from '../model-changes.js';
import type { ClientOptions } from '../options.js';
import { derivedCalls, prepareJob, prepareSigned, type ModelTarget } from '../request.js';
import { readDrift, type DriftQuery } from '../drift.js';
import {
  predictionLogSize,
  readPredictionLog,
  type PredictionLogQuery,
} from '../prediction-log.js';
import { readAccuracy } from '../accuracy.js';
import { recordFeedback, type FeedbackOptions } from '../feedback.js';
import { feedbackDeps } from './feedback-deps.js';
import { createRouter } from '../routing.js';
import { readComparisons, type CompareOptions } from '../comparisons.js';
import { replayLog, type ReplayOptions, type ReplayProgress } from '../replay.js';
import { openConnection } from './connection.js';
import type { QueueContext } from './context.js';
import { createDeadlines } from './deadlines.js';
import { createEnqueue } from './enqueue.js';
import { createEventHub } from './events.js';
import { createHandle } from './job-handle.js';
import { createQueueCache } from './queues.js';
import { createShadowing } from './shadow-copy.js';
import { createOutputReader } from './results.js';
import { readStatus } from './status.js';
import { readLiveWorkers } from './workers.js';
import type { ParsedPredictOptions } from '@conveyor/shared';

/**
 * Connects to Redis and returns a client that sends predictions through the queue.
 * Rejects with ERR_QUEUE_UNAVAILABLE when Redis cannot be reached, ERR_VALIDATION for bad options.
 */
export async function createClient(options: ClientOptions = {}): Promise<QueueClient> {
  const connection = await openConnection(options);
  const { config, redis, log } = connection;
  let closed = false;
  const ctx: QueueContext = {
    ...connection,
    queues: createQueueCache(connection),
    hub: createEventHub(
      redis,
      () => connection.openBlocking('conveyor-sdk-events'),
      config.prefix,
      log,
    ),
    outputs: createOutputReader(redis),
    waits: new Set(),
    deadlines: createDeadlines(),
    assertOpen() {
      if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
    },
  };
  const catalogue = createCatalogue(
    redis,
    config.prefix,
    config.catalogueTtlMs,
    config.modelExpiryMs,
  );
  const aliases = createAliasStore(redis, config.prefix, config.catalogueTtlMs);
  const router = createRouter({ catalogue, aliases });
  // A notice that a model's aliases changed, or that a worker stopped serving a version, drops
  // the cached copies at once: a rollback is instant for new jobs.
  const changes = watchModelChanges(
    () => connection.openBlocking('conveyor-sdk-changes'),
    config.prefix,
    (model) => {
      aliases.forget(model);
      catalogue.forget();
    },
    log,
  );
  const route = async (model: string, ref?: string): Promise<string> => {
    await changes.ready;
    return router.resolve(model, ref).catch(ctx.rejectUnavailable);
  };
  // From the cached copies when they are fresh (no read, no wait); undefined when they are not.
  const signatureNow = (model: string, ref?: string) => {
    const pick = changes.settled ? router.pickerNow(model, ref) : undefined;
    return pick && catalogue.signatureNow(model, pick());
  };
  // As signatureNow, else as route() reads them.
  const signatureOf = async (model: string, ref?: string) =>
    signatureNow(model, ref) ??
    catalogue.signature(model, await route(model, ref)).catch(ctx.rejectUnavailable);
  const prepare = (target: ModelTarget, inputs: unknown, opts: ParsedPredictOptions) =>
    prepareJob(target, inputs, opts, signatureOf, config.maxTensorBytes);
  const prepareNow = (target: ModelTarget, inputs: unknown, opts: ParsedPredictOptions) => {
    const signature = signatureNow(target.name, opts.version);
    return signature && prepareSigned(target, inputs, opts, signature, config.maxTensorBytes);
  };
  // One read of the routing state per call of enqueueMany; each job still draws its version.
  const routes = async (model: string, ref?: string) => {
    await changes.ready;
    const pick = await router.picker(model, ref).catch(ctx.rejectUnavailable);
    return {
      pick,
      signature: (version: string) =>
        catalogue.signature(model, version).catch(ctx.rejectUnavailable),
    };
  };
  // A key's record lives as long as its job is kept (failed jobs are kept longest).
  const idempotency = createIdempotency(
    redis,
    config.prefix,
    Math.max(60, config.keepCompleted.ageSeconds, config.keepFailed.ageSeconds),
  );
  const shadowing = createShadowing(ctx, {
    shadowOf: (model, ref) => router.shadow(model, ref),
    shadowNow: (model, ref) => router.shadowNow(model, ref),
    versions: (model) => catalogue.versions(model),
  });
  const calls = createEnqueue(ctx, { route, routes, prepare, prepareNow, idempotency, shadowing });
  const handle = (id: string) => createHandle<Outputs>(ctx, id);
  const passOrUnavailable = (error: unknown) =>
    isConveyorError(error) ? Promise.reject(error) : ctx.rejectUnavailable(error);
  const enqueue = async (model: unknown, inputs: unknown, opts?: unknown) =>
    handle(await calls.enqueue(model, inputs, opts));
  const client = {
    ...derivedCalls(enqueue, handle, ctx.assertOpen, calls.predict),
    enqueue,
    async enqueueMany(model: unknown, items: readonly { inputs: unknown }[], opts?: unknown) {
      return (await calls.enqueueMany(model, items, opts)).map(handle);
    },
    jobIdFor: calls.jobIdFor,
    async models(): Promise<ModelInfo[]> {
      ctx.assertOpen();
      try {
        await changes.ready;
        return await withLiveWorkers(await catalogue.list(), (name) =>
          ctx.queues.named(name).getWorkersCount(),
        );
      } catch (error) {
        throw ctx.unavailable(error);
      }
    },
    async aliases(model: string) {
      ctx.assertOpen();
      return aliases.get(model).catch(ctx.rejectUnavailable);
    },
    async workers() {
      ctx.assertOpen();
      return (await readLiveWorkers(redis, config.prefix).catch(ctx.rejectUnavailable)).workers;
    },
    async status() {
      ctx.assertOpen();
      await changes.ready;
      return readStatus({
        redis,
        prefix: config.prefix,
        versions: () => catalogue.list(),
        aliases: (model) => aliases.get(model),
        queue: (name) => ctx.queues.readOnly(name),
      }).catch(ctx.rejectUnavailable);
    },
    predictionLog(model: string, query?: PredictionLogQuery) {
      ctx.assertOpen();
      return readPredictionLog(redis, config.prefix, model, query);
    },
    async predictionLogSize(model: string) {
      ctx.assertOpen();
      return predictionLogSize(redis, config.prefix, model).catch(passOrUnavailable);
    },
    async feedback(id: string, feedback: unknown, options?: FeedbackOptions) {
      ctx.assertOpen();
      return recordFeedback(feedbackDeps(ctx, catalogue), id, feedback, options).catch(
        passOrUnavailable,
      );
    },
    async accuracy(model: string, options?: { at?: number }) {
      ctx.assertOpen();
      return readAccuracy(redis, config.prefix, model, options).catch(passOrUnavailable);
    },
    async drift(model: string, query?: DriftQuery) {
      ctx.assertOpen();
      return readDrift(redis, config.prefix, model, query).catch((error: unknown) =>
        isConveyorError(error) ? Promise.reject(error) : ctx.rejectUnavailable(error),
      );
    },
    async compare(model: string, options?: CompareOptions) {
      ctx.assertOpen();
      return readComparisons(redis, config.prefix, model, options).catch(ctx.rejectUnavailable);
    },
    async replay(model: string, options: ReplayOptions, onProgress?: (p: ReplayProgress) => void) {
      ctx.assertOpen();
      const deps = { client: client as unknown as QueueClient, redis, prefix: config.prefix };
      return replayLog({ ...deps, ...(onProgress && { onProgress }) }, model, options).catch(
        ctx.rejectUnavailable,
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      const error = new ConveyorError('ERR_CLOSED', 'the client was closed while waiting');
      for (const wait of [...ctx.waits]) wait.fail(error);
      // Copies still held go to Redis before the connections close.
      await shadowing.flush();
      await ctx.hub.close();
      await changes.close();
      await ctx.queues.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
  // The implementation takes any model reference and inputs and checks them at run time; the
  // interface's generics only narrow what callers see (typed inputs and outputs).
  return client as unknown as QueueClient satisfies ConveyorClient;
}
