import { Queue, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  ConveyorError,
  JOB_PAYLOAD_VERSION,
  JobResultSchema,
  decodeTensor,
  blobKey,
  encodeTensor,
  isConveyorError,
  throttledErrorLog,
  parseFailure,
  parseOrThrow,
  modelOfJobId,
  newJobId,
  queueOfJobId,
  tensorBytes,
  PRODUCER_COMMAND_TIMEOUT_MS,
  redisAddress,
  redisOptions,
  redisUnavailable,
  redisWithin,
  silentLogger,
  toConveyorError,
  type JobPayload,
  type JobResult,
  type ParsedPredictOptions,
  type Tensor,
  type TypedArray,
} from '@conveyor/shared';
import { createAliasStore } from './aliases.js';
import { getJobKeepingRawData } from './job-read.js';
import { createIdempotency, keyInProgress, keyReused, requestFingerprint } from './idempotency.js';
import { createCatalogue, withLiveWorkers } from './catalogue.js';
import { createRouter } from './routing.js';
import {
  BulkItemOptionsSchema,
  BulkOptionsSchema,
  type ConveyorClient,
  type JobEvent,
  type JobHandle,
  type JobState,
  type JobStatus,
  type ModelInfo,
  type Prediction,
} from './client.js';
import { jobEvents } from './event-channel.js';
import { createEventHub, type QueueEvent } from './event-hub.js';
import { watchModelChanges } from './model-changes.js';
import { ClientOptionsSchema, redisConnectionOptions, type ClientOptions } from './options.js';
import {
  modelTarget,
  derivedCalls,
  predictOptions,
  prepareJob,
  type ModelTarget,
  type PreparedJob,
} from './request.js';

/** Input bytes sent in one round trip of a bulk enqueue: about 20 ms of a 1 Gbit/s link. */
const BULK_CHUNK_BYTES = 2 * 1024 * 1024;
const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'failed']);
const CANCELLABLE: ReadonlySet<JobState> = new Set(['waiting', 'prioritized', 'delayed']);

/** The JobEvent a BullMQ stream event means, if any. */
function toJobEvent(entry: QueueEvent): JobEvent | undefined {
  switch (entry.event) {
    case 'active':
    case 'completed':
    case 'failed':
    case 'waiting':
    case 'delayed':
      return { type: 'state', state: entry.event };
    case 'removed':
      return { type: 'state', state: 'unknown' };
    case 'progress': {
      try {
        const progress: unknown = JSON.parse(entry.fields.data ?? 'null');
        if (typeof progress === 'number' || (typeof progress === 'object' && progress !== null))
          return { type: 'progress', progress };
      } catch {
        // Progress that is not JSON is no progress we can report.
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Connects to Redis and returns a client that sends predictions through the queue.
 * Rejects with ERR_QUEUE_UNAVAILABLE when Redis cannot be reached, ERR_VALIDATION for bad options.
 */
export async function createClient(options: ClientOptions = {}): Promise<ConveyorClient> {
  const config = parseOrThrow(ClientOptionsSchema, options, 'client options');
  // An injected logger keeps its own bindings (a producer's says component: producer).
  const log = config.logger ?? silentLogger();
  const connection = redisConnectionOptions(config);
  const address = redisAddress(connection);
  /**
   * Anything Redis or BullMQ throws that is not ours means Redis did not answer: the error names
   * this client's Redis and says what to check, never the password or the library's wording.
   */
  const unavailable = (error: unknown): ConveyorError => redisUnavailable(address, error);
  const rejectUnavailable = (error: unknown): Promise<never> => Promise.reject(unavailable(error));
  // Commands on this connection fail after PRODUCER_COMMAND_TIMEOUT_MS: a frozen Redis keeps its
  // socket open and would hold every call for ever. The event listener and the model-changes
  // subscriber below block by design and have no such limit.
  const redis = new Redis({
    ...connection,
    ...redisOptions('producer', `conveyor-sdk.${config.prefix}`),
    lazyConnect: true,
  });
  redis.on('error', throttledErrorLog(log, 'redis connection error'));
  try {
    // A connection's handshake is a few commands; on a frozen Redis ioredis would retry it.
    await redisWithin(redis.connect(), 2 * PRODUCER_COMMAND_TIMEOUT_MS);
  } catch (error) {
    redis.disconnect();
    throw unavailable(error);
  }

  const catalogue = createCatalogue(
    redis,
    config.prefix,
    config.catalogueTtlMs,
    config.modelExpiryMs,
  );
  const hub = createEventHub(
    redis,
    () => {
      const listener = new Redis({
        ...connection,
        ...redisOptions('worker', `conveyor-sdk-events.${config.prefix}`),
      });
      listener.on('error', throttledErrorLog(log, 'redis listener connection error'));
      return listener;
    },
    config.prefix,
    log,
  );
  const aliases = createAliasStore(redis, config.prefix, config.catalogueTtlMs);
  const router = createRouter({ catalogue, aliases });
  // A key's record lives as long as its job is kept (failed jobs are kept longest).
  const idempotency = createIdempotency(
    redis,
    config.prefix,
    Math.max(60, config.keepCompleted.ageSeconds, config.keepFailed.ageSeconds),
  );
  // A notice that a model's aliases changed, or that a worker stopped serving a version, drops
  // the cached copies at once: a rollback is instant for new jobs.
  const changes = watchModelChanges(
    () =>
      new Redis({
        ...connection,
        ...redisOptions('worker', `conveyor-sdk-changes.${config.prefix}`),
      }),
    config.prefix,
    (model) => {
      aliases.forget(model);
      catalogue.forget();
    },
    log,
  );
  const queues = new Map<string, Queue>();
  /** Pending result() waits, so close() can reject them with ERR_CLOSED. */
  const waits = new Set<(error: ConveyorError) => void>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
  };

  /** The BullMQ queue of a job id (one queue per model version). */
  const queueOf = (jobId: string): Queue => queueNamed(queueOfJobId(jobId));

  function queueNamed(name: string): Queue {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: redis,
        prefix: config.prefix,
        streams: { events: { maxLen: config.eventsMaxLen } },
      });
      queue.on('error', (err: Error) => log.warn({ err, queue: name }, 'queue error'));
      queues.set(name, queue);
    }
    return queue;
  }

  const decodeResult = (jobId: string, value: unknown): Prediction => {
    const result: JobResult = parseOrThrow(
      JobResultSchema,
      value,
      `result of job ${jobId}`,
      'ERR_PAYLOAD_INVALID',
    );
    const outputs: Record<string, Tensor> = {};
    for (const [name, wire] of Object.entries(result.outputs)) {
      outputs[name] = decodeTensor(wire, {
        maxBytes: Number.POSITIVE_INFINITY,
        where: `output "${name}"`,
      });
    }
    return {
      jobId,
      model: result.model,
      version: result.version,
      outputs,
      timings: result.timings,
    };
  };

  const settled = (model: string, job: Job, state: JobState): Prediction => {
    if (state === 'completed') return decodeResult(String(job.id), job.returnvalue);
    throw parseFailure(job.failedReason, { jobId: job.id, model });
  };

  const notFound = (id: string, model: string, why = 'does not exist (or was trimmed)') =>
    new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} of model "${model}" ${why}`, {
      details: { jobId: id, model },
    });

  /** The job and its state, or undefined for an id Redis does not know. */
  async function read(id: string): Promise<{ job: Job; state: JobState } | undefined> {
    assertOpen();
    try {
      // State first: a job read after its state is at least as new, so a job read as completed
      // carries its return value.
      const queue = queueOf(id);
      const state = await queue.getJobState(id);
      if (state === 'unknown') return undefined;
      const job = await getJobKeepingRawData(queue, id);
      return job ? { job, state } : undefined;
    } catch (error) {
      throw unavailable(error);
    }
  }

  /**
   * Waits for a job through the shared listener: watch the model's stream, subscribe to the job,
   * and only then read its state, so a job that finishes in between is still seen. With `start`
   * (which enqueues a job whose id cannot exist yet), the job is enqueued after the subscription
   * instead, and no read is needed: its every event comes after.
   */
  async function waitFor(
    id: string,
    timeoutMs: number,
    start?: () => Promise<unknown>,
  ): Promise<Prediction> {
    assertOpen();
    const model = modelOfJobId(id);
    await hub.watch(queueOfJobId(id)).catch(rejectUnavailable);
    return new Promise<Prediction>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        waits.delete(abort);
        settle();
      };
      const fail = (error: unknown) => finish(() => reject(toConveyorError(error)));
      const succeed = (prediction: Prediction) => finish(() => resolve(prediction));
      const abort = (error: ConveyorError) => fail(error);
      const unsubscribe = hub.subscribe(id, (entry) => {
        try {
          if (entry.event === 'completed') {
            succeed(decodeResult(id, JSON.parse(entry.fields.returnvalue ?? 'null')));
          } else if (entry.event === 'failed') {
            fail(parseFailure(entry.fields.failedReason ?? '', { jobId: id, model }));
          } else if (entry.event === 'removed') {
            fail(notFound(id, model, 'was removed while waiting'));
          }
        } catch (error) {
          fail(error);
        }
      });
      waits.add(abort);
      const current = (then: (found: { job: Job; state: JobState }) => void): void =>
        void read(id).then((found) => {
          if (done) return;
          if (!found) return fail(notFound(id, model));
          if (FINISHED.has(found.state)) {
            try {
              succeed(settled(model, found.job, found.state));
            } catch (error) {
              fail(error);
            }
            return;
          }
          then(found);
        }, fail);
      const armTimer = () => {
        if (done) return;
        timer = setTimeout(() => {
          current(({ state }) =>
            fail(
              new ConveyorError(
                'ERR_JOB_TIMEOUT',
                `job ${id} did not finish within ${timeoutMs} ms; it is ${state}, fetch its result later`,
                { details: { jobId: id, model, state } },
              ),
            ),
          );
        }, timeoutMs);
      };
      if (start) start().then(armTimer, fail);
      else current(armTimer);
    });
  }

  function handle<O extends object>(id: string): JobHandle<O> {
    const model = modelOfJobId(id);
    return {
      id,
      model,
      async status() {
        const found = await read(id);
        if (!found) return { id, model, state: 'unknown', attemptsMade: 0 };
        const { job, state } = found;
        const status: JobStatus = {
          id,
          model,
          state,
          attemptsMade: job.attemptsMade,
          enqueuedAt: job.timestamp,
        };
        if (job.processedOn) status.startedAt = job.processedOn;
        if (job.finishedOn) status.finishedAt = job.finishedOn;
        if (state === 'failed') {
          const error = parseFailure(job.failedReason);
          status.error = { code: error.code, message: error.message };
        }
        return status;
      },
      async cancel() {
        const found = await read(id);
        if (!found) {
          throw new ConveyorError(
            'ERR_JOB_NOT_FOUND',
            `job ${id} does not exist (or was trimmed)`,
            {
              details: { jobId: id, model },
            },
          );
        }
        const { job, state } = found;
        if (!CANCELLABLE.has(state)) {
          throw new ConveyorError(
            'ERR_JOB_NOT_CANCELLABLE',
            `job ${id} is ${state}; only a job that has not started can be cancelled`,
            { details: { jobId: id, model, state } },
          );
        }
        try {
          // remove() takes the job's lock: it fails for a job a worker took in the meantime.
          await job.remove();
          const stored = Object.keys((job.data as Partial<JobPayload>).inputs ?? {});
          if (stored.length > 0)
            await redis.del(...stored.map((input) => blobKey(config.prefix, id, input)));
        } catch (error) {
          const now = await job.getState().catch(() => 'unknown');
          throw new ConveyorError(
            'ERR_JOB_NOT_CANCELLABLE',
            `job ${id} is ${now}; it started before it could be cancelled`,
            { details: { jobId: id, model, state: now }, cause: error },
          );
        }
        log.debug({ jobId: id, model }, 'job cancelled');
      },
      async result(waitOptions = {}) {
        // The job's outputs are whatever the caller typed them as; the worker checked the names.
        return (await waitFor(id, waitOptions.timeoutMs ?? config.timeoutMs)) as Prediction<O>;
      },
      events() {
        return jobEvents(async (emit) => {
          assertOpen();
          await hub.watch(queueOfJobId(id)).catch(rejectUnavailable);
          const stop = hub.subscribe(id, (entry) => {
            const event = toJobEvent(entry);
            if (event) emit(event);
          });
          try {
            const found = await read(id);
            return { state: found?.state ?? 'unknown', stop };
          } catch (error) {
            stop();
            throw error;
          }
        });
      },
    };
  }

  /** A job ready for BullMQ: its payload, job options, and the raw bytes of its stored inputs. */
  interface BullJob {
    jobId: string;
    payload: JobPayload;
    opts: JobsOptions;
    blobs: [key: string, bytes: Buffer][];
    /** Bytes of its inputs, to size the round trips of a bulk enqueue. */
    bytes: number;
  }

  /** The BullMQ form of a prepared job; large inputs go beside it as raw bytes (BlobTensorSchema). */
  function toBullJob(prepared: PreparedJob): BullJob {
    const { options } = prepared;
    const blobs: [string, Buffer][] = [];
    const inputs: JobPayload['inputs'] = {};
    let total = 0;
    for (const [name, tensor] of Object.entries(prepared.tensors)) {
      // A typed array's bytes are a view; strings are encoded here (length-prefixed UTF-8).
      const bytes = tensor.dtype === 'string' ? tensorBytes(tensor) : undefined;
      const size = bytes?.byteLength ?? (tensor.data as TypedArray).byteLength;
      total += size;
      if (size >= config.blobThresholdBytes && size > 0) {
        blobs.push([blobKey(config.prefix, prepared.jobId, name), bytes ?? tensorBytes(tensor)]);
        inputs[name] = { dtype: tensor.dtype, shape: [...tensor.shape], blob: true };
      } else {
        inputs[name] = encodeTensor(tensor);
      }
    }
    // The version chosen at enqueue is recorded in the job (and its id and queue).
    const payload: JobPayload = {
      v: JOB_PAYLOAD_VERSION,
      model: prepared.model,
      version: prepared.signature.version,
      inputs,
    };
    if (prepared.outputs !== undefined) payload.outputs = prepared.outputs;
    if (prepared.deadline !== undefined) payload.deadline = prepared.deadline;
    if (options.owner !== undefined) payload.owner = options.owner;
    return {
      jobId: prepared.jobId,
      payload,
      blobs,
      bytes: total,
      opts: {
        jobId: prepared.jobId,
        ...(options.priority !== undefined && { priority: options.priority }),
        attempts: config.attempts,
        backoff: { type: 'exponential', delay: config.backoffMs },
        removeOnComplete: {
          count: config.keepCompleted.count,
          age: config.keepCompleted.ageSeconds,
        },
        removeOnFail: { count: config.keepFailed.count, age: config.keepFailed.ageSeconds },
      },
    };
  }

  /**
   * Writes stored inputs before their jobs exist, so a worker never takes a job whose bytes are
   * not there yet. NX: an idempotent re-enqueue never rewrites the bytes of a job already queued.
   */
  async function storeBlobs(jobs: readonly BullJob[]): Promise<void> {
    const writes = jobs.flatMap((j) => j.blobs);
    if (writes.length === 0) return;
    const pipeline = redis.pipeline();
    for (const [key, bytes] of writes) pipeline.set(key, bytes, 'EX', config.blobTtlSeconds, 'NX');
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  /** The version a request for `ref` (a version, an alias, or production) runs on. */
  async function route(model: string, ref?: string): Promise<string> {
    await changes.ready;
    return router.resolve(model, ref).catch(rejectUnavailable);
  }

  const prepare = (target: ModelTarget, inputs: unknown, opts: ParsedPredictOptions) =>
    prepareJob(
      target,
      inputs,
      opts,
      async (model, ref) =>
        catalogue.signature(model, await route(model, ref)).catch(rejectUnavailable),
      config.maxTensorBytes,
    );

  /**
   * Milliseconds a key's first request has to add its job before a repeat takes over. Taking over
   * is safe at any time (the job id is fixed by the key, so BullMQ adds it once); the window only
   * tells a repeat that arrives while the first is still at work to come back (409).
   */
  const ACCEPT_WINDOW_MS = 2000;

  /**
   * Adds a prepared job that carries an idempotency key, unless the key's job exists: the key's
   * record (scoped to the owner) fixes the job's id and version on the first request, refuses a
   * different request under the same key, and answers ERR_IDEMPOTENCY_IN_PROGRESS while the first
   * is still adding its job. A first request that died before adding its job is taken over.
   */
  async function addKeyed(
    prepared: PreparedJob,
    inputs: unknown,
    target: ModelTarget,
    key: string,
  ): Promise<string> {
    const { options } = prepared;
    const fingerprint = requestFingerprint(target.name, inputs, options);
    const digest = await idempotency.digest(options.owner, key).catch(rejectUnavailable);
    const claim = await idempotency
      .claim(digest, prepared.signature.version, fingerprint)
      .catch(rejectUnavailable);
    if (claim.status === 'mismatch') throw keyReused(key, target.name);
    const jobId = newJobId(target.name, claim.version, digest);
    if (claim.status === 'same') {
      const state = await queueOf(jobId).getJobState(jobId).catch(rejectUnavailable);
      if (state !== 'unknown') return jobId;
      if (claim.ageMs < ACCEPT_WINDOW_MS) throw keyInProgress(key, target.name);
    }
    // The key's first request may have run on another version (an alias moved since).
    const job =
      claim.version === prepared.signature.version
        ? prepared
        : await prepare(target, inputs, { ...options, version: claim.version });
    return add(toBullJob({ ...job, jobId }));
  }

  /** Adds a prepared job (through its key's record when it has one); resolves with its id. */
  const addPrepared = (prepared: PreparedJob, inputs: unknown, target: ModelTarget) =>
    prepared.options.idempotencyKey === undefined
      ? add(toBullJob(prepared))
      : addKeyed(prepared, inputs, target, prepared.options.idempotencyKey);

  /** Stores a prepared job's inputs, then adds it to its version's queue; resolves with its id. */
  async function add(bull: BullJob): Promise<string> {
    let job: Job;
    try {
      await storeBlobs([bull]);
      job = await queueOf(bull.jobId).add('predict', bull.payload, bull.opts);
    } catch (error) {
      throw unavailable(error);
    }
    log.debug({ jobId: job.id }, 'job enqueued');
    return String(job.id);
  }

  async function enqueue(model: unknown, inputs: unknown, options?: unknown): Promise<JobHandle> {
    assertOpen();
    // Everything that can be checked without Redis is checked first.
    const target = modelTarget(model);
    const prepared = await prepare(target, inputs, predictOptions(options));
    return handle(await addPrepared(prepared, inputs, target));
  }

  /**
   * Enqueues and waits. A job without an idempotency key has a new id, so the wait subscribes
   * first and enqueues after, and reads nothing back; a keyed job may exist already (finished or
   * not), so it is enqueued, then read and waited for like any handle's result.
   */
  async function predict(model: unknown, inputs: unknown, options?: unknown): Promise<Prediction> {
    assertOpen();
    const target = modelTarget(model);
    const opts = predictOptions(options);
    const prepared = await prepare(target, inputs, opts);
    const timeoutMs = opts.timeoutMs ?? config.timeoutMs;
    if (opts.idempotencyKey !== undefined)
      return waitFor(await addPrepared(prepared, inputs, target), timeoutMs);
    const bull = toBullJob(prepared);
    return waitFor(bull.jobId, timeoutMs, () => add(bull));
  }

  async function enqueueMany(
    model: unknown,
    items: readonly { inputs: unknown; idempotencyKey?: string }[],
    options?: unknown,
  ): Promise<JobHandle[]> {
    assertOpen();
    const target = modelTarget(model);
    const shared = parseOrThrow(BulkOptionsSchema, options ?? {}, 'bulk options');
    const prepared: { job: PreparedJob; inputs: unknown }[] = [];
    for (const [index, item] of items.entries()) {
      try {
        const own = parseOrThrow(BulkItemOptionsSchema, item, `item ${index}`);
        const opts: ParsedPredictOptions = { ...shared };
        if (own.idempotencyKey !== undefined) opts.idempotencyKey = own.idempotencyKey;
        prepared.push({ job: await prepare(target, item.inputs, opts), inputs: item.inputs });
      } catch (error) {
        // One bad item refuses the whole call before anything is enqueued; the error says which.
        const known = isConveyorError(error) ? error : unavailable(error);
        throw new ConveyorError(known.code, `item ${index}: ${known.message}`, {
          cause: known,
          details: { ...known.details, index },
          issues: [...known.issues],
        });
      }
    }
    if (prepared.length === 0) return [];
    const ids = await addBulk(prepared.filter((p) => p.job.options.idempotencyKey === undefined));
    // Keyed jobs go one by one through their keys' records, in the order given.
    for (const { job, inputs } of prepared) {
      if (job.options.idempotencyKey !== undefined)
        ids.set(job, await addPrepared(job, inputs, target));
    }
    log.debug({ model: target.name, count: prepared.length }, 'jobs enqueued in bulk');
    return prepared.map(({ job }) => handle(ids.get(job) ?? job.jobId));
  }

  /** Adds jobs without keys, one addBulk per version's queue (an alias's weights apply per job). */
  /** Consecutive runs of jobs of about BULK_CHUNK_BYTES of inputs (at least one job each). */
  function chunksOf(jobs: readonly BullJob[]): BullJob[][] {
    const chunks: BullJob[][] = [];
    let current: BullJob[] = [];
    let bytes = 0;
    for (const job of jobs) {
      if (current.length > 0 && bytes + job.bytes > BULK_CHUNK_BYTES) {
        chunks.push(current);
        current = [];
        bytes = 0;
      }
      current.push(job);
      bytes += job.bytes;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  async function addBulk(
    prepared: readonly { job: PreparedJob }[],
  ): Promise<Map<PreparedJob, string>> {
    const jobs = prepared.map(({ job }) => toBullJob(job));
    const byQueue = new Map<string, BullJob[]>();
    for (const job of jobs) {
      const name = queueOfJobId(job.jobId);
      byQueue.set(name, [...(byQueue.get(name) ?? []), job]);
    }
    try {
      // In round trips of about BULK_CHUNK_BYTES each, so no reply waits behind megabytes of
      // others past the command timeout; the blobs of a chunk are stored before its jobs exist.
      for (const [name, queued] of byQueue) {
        for (const chunk of chunksOf(queued)) {
          await storeBlobs(chunk);
          await queueNamed(name).addBulk(
            chunk.map((p) => ({ name: 'predict', data: p.payload, opts: p.opts })),
          );
        }
      }
    } catch (error) {
      throw unavailable(error);
    }
    return new Map(prepared.map(({ job }) => [job, job.jobId]));
  }

  const client = {
    ...derivedCalls(enqueue, handle, assertOpen, predict),
    enqueue,
    enqueueMany,
    async jobIdFor(model: string, options: unknown = {}): Promise<string> {
      assertOpen();
      const target = modelTarget(model);
      const opts = predictOptions(options);
      if (opts.idempotencyKey === undefined)
        return newJobId(target.name, await route(target.name, opts.version));
      const digest = await idempotency
        .digest(opts.owner, opts.idempotencyKey)
        .catch(rejectUnavailable);
      const version = await route(target.name, opts.version);
      const reserved = await idempotency.reserve(digest, version).catch(rejectUnavailable);
      return newJobId(target.name, reserved, digest);
    },
    async models(): Promise<ModelInfo[]> {
      assertOpen();
      try {
        await changes.ready;
        return await withLiveWorkers(await catalogue.list(), (name) =>
          queueNamed(name).getWorkersCount(),
        );
      } catch (error) {
        throw unavailable(error);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      const error = new ConveyorError('ERR_CLOSED', 'the client was closed while waiting');
      for (const abort of [...waits]) abort(error);
      await hub.close();
      await changes.close();
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
  // The implementation takes any model reference and inputs and checks them at run time; the
  // interface's generics only narrow what callers see (typed inputs and outputs).
  return client as unknown as ConveyorClient;
}
