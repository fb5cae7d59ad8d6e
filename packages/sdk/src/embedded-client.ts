import { randomBytes } from 'node:crypto';
import type { Engine, EngineOptions } from '@conveyor/engine';
import {
  ConveyorError,
  DEFAULT_ALIAS,
  ModelVersionSchema,
  idempotencyDigest,
  isConveyorError,
  modelOfJobId,
  newJobId,
  parseOrThrow,
  silentLogger,
  type ParsedPredictOptions,
} from '@conveyor/shared';
import {
  BulkItemOptionsSchema,
  BulkOptionsSchema,
  type ConveyorClient,
  type JobHandle,
  type ModelInfo,
  type Prediction,
} from './client.js';
import { jobEvents } from './event-channel.js';
import { keyReused, requestFingerprint } from './idempotency.js';
import { createJobTable } from './job-table.js';
import { EmbeddedClientOptionsSchema, type EmbeddedClientOptions } from './options.js';
import {
  modelTarget,
  derivedCalls,
  predictOptions,
  prepareJob,
  type ModelTarget,
  type PreparedJob,
} from './request.js';

/** A client that runs the models in this process; the same interface as the queue client. */
export interface EmbeddedClient extends ConveyorClient {
  /** Stops starting jobs, as pausing a queue does; running jobs finish, waiting ones wait. */
  pause(): void;
  /** Starts jobs again after `pause()`. */
  resume(): void;
}

/**
 * Loads the models of a repository with onnxruntime in this process and returns a client with
 * the queue client's interface, validation, errors and options: moving an application to the
 * queue only changes this call to `createClient`. Jobs live in an in-memory table (ids from the
 * same scheme, the same retention and retries); the engine batches jobs that run together.
 */
export async function createEmbeddedClient(
  options: EmbeddedClientOptions,
): Promise<EmbeddedClient> {
  const config = parseOrThrow(EmbeddedClientOptionsSchema, options, 'embedded client options');
  const log = config.logger ?? silentLogger();
  // Loaded here, not at the top: an application that only uses the queue never loads onnxruntime.
  const { createEngine } = await import('@conveyor/engine');
  const engineOptions: EngineOptions = {
    repository: config.repository,
    maxTensorBytes: config.maxTensorBytes,
    logger: log,
  };
  if (config.models) engineOptions.models = config.models;
  if (config.threads !== undefined) engineOptions.threads = config.threads;
  const engine: Engine = await createEngine(engineOptions);
  let closed = false;

  const table = createJobTable({
    concurrency: config.concurrency,
    attempts: config.attempts,
    backoffMs: config.backoffMs,
    keepCompleted: config.keepCompleted,
    keepFailed: config.keepFailed,
    log,
    async run(job: PreparedJob, enqueuedAt: number, takenAt: number): Promise<Prediction> {
      const started = performance.now();
      const outcome = await engine.predict({
        model: job.model,
        version: job.signature.version,
        inputs: job.tensors,
        outputs: job.outputs,
      });
      return {
        jobId: job.jobId,
        model: outcome.model,
        version: outcome.version,
        outputs: outcome.outputs,
        timings: {
          queuedMs: Math.max(0, takenAt - enqueuedAt),
          inferenceMs: performance.now() - started,
          runMs: outcome.runMs,
        },
      };
    },
  });

  const assertOpen = () => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
  };

  /**
   * A version, or the newest for production; the embedded client keeps no aliases (they live in
   * Redis), so any other alias is ERR_ALIAS_NOT_FOUND.
   */
  const versionOf = (model: string, ref?: string): string | undefined => {
    if (ref === undefined || ref === DEFAULT_ALIAS) return undefined;
    if (ModelVersionSchema.safeParse(ref).success) return ref;
    engine.resolve(model);
    throw new ConveyorError(
      'ERR_ALIAS_NOT_FOUND',
      `model "${model}" has no alias "${ref}": the embedded client serves versions and production (the newest) only`,
      { details: { model, alias: ref } },
    );
  };

  const signatureOf = (model: string, ref?: string) =>
    Promise.resolve().then(() => engine.resolve(model, versionOf(model, ref)).signature);

  function handle(id: string): JobHandle {
    const model = modelOfJobId(id);
    return {
      id,
      model,
      status: () => Promise.resolve().then(() => table.status(id, model)),
      cancel: () => Promise.resolve().then(() => table.cancel(id, model)),
      result: (waitOptions = {}) =>
        table.wait(id, model, waitOptions.timeoutMs ?? config.timeoutMs),
      events: () => jobEvents((emit) => Promise.resolve().then(() => table.subscribe(id, emit))),
    };
  }

  const prepare = (target: ModelTarget, inputs: unknown, opts: ParsedPredictOptions) =>
    prepareJob(target, inputs, opts, signatureOf, config.maxTensorBytes);

  // Idempotency keys as on the queue: scoped to the owner, the first request's version and
  // fingerprint kept (for as many keys as finished jobs are kept), a different request refused.
  const secret = randomBytes(32).toString('base64url');
  const keys = new Map<string, { version: string; fingerprint: string }>();
  const maxKeys = Math.max(1000, config.keepCompleted.count + config.keepFailed.count);
  const digestOf = (opts: ParsedPredictOptions, key: string) =>
    idempotencyDigest(secret, opts.owner ?? '', key);

  /** A prepared job with its key's id and version (the key's first request's), or as it is. */
  async function keyed(prepared: PreparedJob, inputs: unknown, target: ModelTarget) {
    const key = prepared.options.idempotencyKey;
    if (key === undefined) return prepared;
    const digest = digestOf(prepared.options, key);
    const fingerprint = requestFingerprint(target.name, inputs, prepared.options);
    const record = keys.get(digest) ?? { version: prepared.signature.version, fingerprint };
    if (record.fingerprint !== fingerprint) throw keyReused(key, target.name);
    if (!keys.has(digest)) {
      keys.set(digest, record);
      if (keys.size > maxKeys) keys.delete(keys.keys().next().value as string);
    }
    const job =
      record.version === prepared.signature.version
        ? prepared
        : await prepare(target, inputs, { ...prepared.options, version: record.version });
    return { ...job, jobId: newJobId(target.name, record.version, digest) };
  }

  async function enqueue(model: unknown, inputs: unknown, options?: unknown): Promise<JobHandle> {
    assertOpen();
    const target = modelTarget(model);
    const opts = predictOptions(options);
    const prepared = await keyed(await prepare(target, inputs, opts), inputs, target);
    table.add(prepared);
    log.debug({ jobId: prepared.jobId, model: target.name }, 'job enqueued');
    return handle(prepared.jobId);
  }

  async function enqueueMany(
    model: unknown,
    items: readonly { inputs: unknown; idempotencyKey?: string }[],
    options?: unknown,
  ): Promise<JobHandle[]> {
    assertOpen();
    const target = modelTarget(model);
    const shared = parseOrThrow(BulkOptionsSchema, options ?? {}, 'bulk options');
    const prepared: PreparedJob[] = [];
    for (const [index, item] of items.entries()) {
      try {
        const own = parseOrThrow(BulkItemOptionsSchema, item, `item ${index}`);
        const opts: ParsedPredictOptions = { ...shared };
        if (own.idempotencyKey !== undefined) opts.idempotencyKey = own.idempotencyKey;
        prepared.push(await keyed(await prepare(target, item.inputs, opts), item.inputs, target));
      } catch (error) {
        // One bad item refuses the whole call before anything is enqueued, as on the queue.
        if (!isConveyorError(error)) throw error;
        throw new ConveyorError(error.code, `item ${index}: ${error.message}`, {
          cause: error,
          details: { ...error.details, index },
          issues: [...error.issues],
        });
      }
    }
    for (const job of prepared) table.add(job);
    return prepared.map((job) => handle(job.jobId));
  }

  const client = {
    ...derivedCalls(enqueue, handle, assertOpen),
    enqueue,
    enqueueMany,
    async jobIdFor(model: string, options: unknown = {}): Promise<string> {
      await Promise.resolve();
      assertOpen();
      const target = modelTarget(model);
      const opts = predictOptions(options);
      const served = engine.resolve(target.name, versionOf(target.name, opts.version));
      if (opts.idempotencyKey === undefined) return newJobId(target.name, served.entry.version);
      const digest = digestOf(opts, opts.idempotencyKey);
      const version = keys.get(digest)?.version ?? served.entry.version;
      return newJobId(target.name, version, digest);
    },
    async models(): Promise<ModelInfo[]> {
      await Promise.resolve();
      assertOpen();
      const served = [...engine.models.values()].flat();
      return served.map((m) => ({ ...m.signature, workers: 1, state: 'ready' as const }));
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
