import type { Engine } from '@conveyor/engine';
import {
  ConveyorError,
  DEFAULT_ALIAS,
  type AccuracyQuery,
  type DriftReport,
  type FeedbackReceipt,
  type ModelAccuracy,
  ModelVersionSchema,
  isConveyorError,
  modelOfJobId,
  parseOrThrow,
  silentLogger,
  toConveyorError,
  type ModelSignature,
  type ParsedPredictOptions,
} from '@conveyor/shared';
import type { DriftQuery } from '../drift.js';
import type { FeedbackOptions } from '../feedback.js';
import {
  BulkItemOptionsSchema,
  BulkOptionsSchema,
  type ConveyorClient,
  type JobHandle,
  type ModelInfo,
  type Prediction,
} from '../client.js';
import { jobEvents } from '../event-channel.js';
import {
  derivedCalls,
  modelTarget,
  predictOptions,
  prepareJob,
  type ModelTarget,
  type PreparedJob,
} from '../request.js';
import { openEngine, runOnEngine } from './engine-runner.js';
import { createDriftMemory } from './drift-memory.js';
import { createFeedbackMemory } from './feedback-memory.js';
import { createIdempotencyKeys } from './idempotency-keys.js';
import { createJobTable, type JobTable } from './job-table.js';
import { EmbeddedClientOptionsSchema, type EmbeddedClientOptions } from './options.js';

/** A client that runs the models in this process; the same interface as the queue client. */
export interface EmbeddedClient extends ConveyorClient {
  /** Stops starting jobs, as pausing a queue does; running jobs finish, waiting ones wait. */
  pause(): void;
  /** Starts jobs again after `pause()`. */
  resume(): void;
}

// Most calls give no options: parsed once (a zod parse costs about as much as an iris run).
const NO_OPTIONS: ParsedPredictOptions = Object.freeze(predictOptions(undefined));

/**
 * A version, or the newest for production; the embedded client keeps no aliases (they live in
 * Redis), so any other alias is ERR_ALIAS_NOT_FOUND.
 */
function versionOf(engine: Engine, model: string, ref?: string): string | undefined {
  if (ref === undefined || ref === DEFAULT_ALIAS) return undefined;
  if (ModelVersionSchema.safeParse(ref).success) return ref;
  engine.resolve(model);
  throw new ConveyorError(
    'ERR_ALIAS_NOT_FOUND',
    `model "${model}" has no alias "${ref}": the embedded client serves versions and production (the newest) only`,
    { details: { model, alias: ref } },
  );
}

/** An output's class labels, from its version's signature; undefined when not known. */
function labelsOf(
  engine: Engine,
  model: string,
  version: string,
  output: string,
): readonly string[] | undefined {
  try {
    return engine.resolve(model, version).signature.outputs.find((o) => o.name === output)?.labels;
  } catch {
    // A version no longer served has no signature to read, as on the queue.
    return undefined;
  }
}

function jobHandle(table: JobTable, id: string, timeoutMs: number): JobHandle {
  const model = modelOfJobId(id);
  return {
    id,
    model,
    status: () => Promise.resolve().then(() => table.status(id, model)),
    cancel: () => Promise.resolve().then(() => table.cancel(id, model)),
    result: (waitOptions = {}) => table.wait(id, model, waitOptions.timeoutMs ?? timeoutMs),
    events: () => jobEvents((emit) => Promise.resolve().then(() => table.subscribe(id, emit))),
  };
}

/** An item error of enqueueMany, naming the item. */
function itemError(error: unknown, index: number): unknown {
  if (!isConveyorError(error)) return error;
  return new ConveyorError(error.code, `item ${index}: ${error.message}`, {
    cause: error,
    details: { ...error.details, index },
    issues: [...error.issues],
  });
}

/**
 * Loads the models of a repository with onnxruntime in this process and returns a client with
 * the queue client's interface, validation, errors and options: moving an application to the
 * queue only changes this call to `createClient`. Jobs live in an in-memory table (ids from the
 * same scheme, the same retention and retries); the engine batches jobs that run together, and
 * runs tiny models on the calling thread (`inlineBelowMs`). Feedback and live accuracy are kept in
 * memory: the last `keepPredictions` predictions, and accuracy sums for a day; so is input drift
 * of versions with a baseline.
 */
export async function createEmbeddedClient(
  options: EmbeddedClientOptions,
): Promise<EmbeddedClient> {
  const config = parseOrThrow(EmbeddedClientOptionsSchema, options, 'embedded client options');
  const log = config.logger ?? silentLogger();
  const engine = await openEngine(config, log);
  let closed = false;
  const memory = createFeedbackMemory(config.keepPredictions, (model, version, output) =>
    labelsOf(engine, model, version, output),
  );
  const drift = createDriftMemory(engine);
  const table = createJobTable({
    ...config,
    log,
    async run(job, enqueuedAt, takenAt) {
      const prediction = await runOnEngine(engine, job, enqueuedAt, takenAt);
      memory.keep(prediction, job.options.owner);
      drift.observe(job.model, prediction.version, job.tensors);
      return prediction;
    },
  });
  const assertOpen = () => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
  };
  const signatureOf = (model: string, ref?: string): Promise<ModelSignature> => {
    try {
      return Promise.resolve(engine.resolve(model, versionOf(engine, model, ref)).signature);
    } catch (error) {
      return Promise.reject(toConveyorError(error));
    }
  };
  const handle = (id: string) => jobHandle(table, id, config.timeoutMs);
  const prepare = (target: ModelTarget, inputs: unknown, opts: ParsedPredictOptions) =>
    prepareJob(target, inputs, opts, signatureOf, config.maxTensorBytes);
  const keys = createIdempotencyKeys(
    Math.max(1000, config.keepCompleted.count + config.keepFailed.count),
    prepare,
  );
  /** Validates a request once, against the signature of the version it runs on. */
  const prepared = async (model: unknown, inputs: unknown, options: unknown) => {
    assertOpen();
    const target = modelTarget(model);
    const opts = options === undefined ? NO_OPTIONS : predictOptions(options);
    return { job: await keys.keyed(await prepare(target, inputs, opts), inputs, target), opts };
  };

  async function enqueue(model: unknown, inputs: unknown, options?: unknown): Promise<JobHandle> {
    const { job } = await prepared(model, inputs, options);
    table.add(job);
    log.debug({ jobId: job.jobId, model: job.model }, 'job enqueued');
    return handle(job.jobId);
  }

  /** Enqueue then wait, without a handle and with the options read once. */
  async function predict(model: unknown, inputs: unknown, options?: unknown): Promise<Prediction> {
    const { job, opts } = await prepared(model, inputs, options);
    return table.run(job, opts.timeoutMs ?? config.timeoutMs);
  }

  async function enqueueMany(
    model: unknown,
    items: readonly { inputs: unknown; idempotencyKey?: string }[],
    options?: unknown,
  ): Promise<JobHandle[]> {
    assertOpen();
    const target = modelTarget(model);
    const shared = parseOrThrow(BulkOptionsSchema, options ?? {}, 'bulk options');
    const jobs: PreparedJob[] = [];
    for (const [index, item] of items.entries()) {
      try {
        const own = parseOrThrow(BulkItemOptionsSchema, item, `item ${index}`);
        const opts: ParsedPredictOptions = { ...shared };
        if (own.idempotencyKey !== undefined) opts.idempotencyKey = own.idempotencyKey;
        jobs.push(await keys.keyed(await prepare(target, item.inputs, opts), item.inputs, target));
      } catch (error) {
        // One bad item refuses the whole call before anything is enqueued, as on the queue.
        throw itemError(error, index);
      }
    }
    for (const job of jobs) table.add(job);
    return jobs.map((job) => handle(job.jobId));
  }

  const client = {
    ...derivedCalls(enqueue, handle, assertOpen, predict),
    enqueue,
    enqueueMany,
    async jobIdFor(model: string, options: unknown = {}): Promise<string> {
      await Promise.resolve();
      assertOpen();
      const target = modelTarget(model);
      const opts = predictOptions(options);
      const served = engine.resolve(target.name, versionOf(engine, target.name, opts.version));
      return keys.jobIdFor(target.name, served.entry.version, opts);
    },
    async models(): Promise<ModelInfo[]> {
      await Promise.resolve();
      assertOpen();
      const served = [...engine.models.values()].flat();
      return served.map((m) => ({ ...m.signature, workers: 1, state: 'ready' as const }));
    },
    async feedback(
      id: string,
      feedback: unknown,
      options?: FeedbackOptions,
    ): Promise<FeedbackReceipt> {
      await Promise.resolve();
      assertOpen();
      return memory.feedback(id, feedback, options);
    },
    async accuracy(model: string, options?: AccuracyQuery): Promise<ModelAccuracy> {
      await Promise.resolve();
      assertOpen();
      return memory.accuracy(model, options);
    },
    async drift(model: string, query?: DriftQuery): Promise<DriftReport> {
      await Promise.resolve();
      assertOpen();
      return drift.drift(model, query);
    },
    pause: () => table.pause(),
    resume: () => table.resume(),
    async close() {
      if (closed) return;
      closed = true;
      await table.close();
      await engine.close();
    },
  };
  // As in the queue client, the generics of the interface only narrow what callers see.
  return client as unknown as EmbeddedClient;
}
