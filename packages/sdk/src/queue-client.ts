import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  ConveyorError,
  JOB_PAYLOAD_VERSION,
  JobIdSchema,
  JobResultSchema,
  ModelNameSchema,
  PredictOptionsSchema,
  checkRequest,
  decodeTensor,
  encodeTensor,
  isConveyorError,
  modelOfJobId,
  newJobId,
  throttledErrorLog,
  parseFailure,
  parseOrThrow,
  queueName,
  redisOptions,
  silentLogger,
  toTensors,
  type JobPayload,
  type JobResult,
  type PredictOptions,
  type ParsedPredictOptions,
  type Tensor,
  type TensorInputs,
} from '@conveyor/shared';
import { createCatalogue } from './catalogue.js';
import {
  BulkItemOptionsSchema,
  BulkOptionsSchema,
  type BulkItem,
  type BulkOptions,
  type ConveyorClient,
  type JobHandle,
  type JobState,
  type JobStatus,
  type ModelInfo,
  type Prediction,
} from './client.js';
import { ClientOptionsSchema, type ClientOptions } from './options.js';

const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'failed']);
const CANCELLABLE: ReadonlySet<JobState> = new Set(['waiting', 'prioritized', 'delayed']);

/** Anything Redis or BullMQ throws that is not ours means Redis did not answer. */
function unavailable(error: unknown): ConveyorError {
  if (isConveyorError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ConveyorError('ERR_QUEUE_UNAVAILABLE', `Redis did not answer: ${message}`, {
    cause: error,
  });
}

/**
 * Connects to Redis and returns a client that sends predictions through the queue.
 * Rejects with ERR_QUEUE_UNAVAILABLE when Redis cannot be reached, ERR_VALIDATION for bad options.
 */
export async function createClient(options: ClientOptions = {}): Promise<ConveyorClient> {
  const config = parseOrThrow(ClientOptionsSchema, options, 'client options');
  // An injected logger keeps its own bindings (a producer's says component: producer).
  const log = config.logger ?? silentLogger();
  const redis = new Redis(config.redisUrl, {
    ...redisOptions('producer', 'conveyor-sdk'),
    lazyConnect: true,
  });
  redis.on('error', throttledErrorLog(log, 'redis connection error'));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw unavailable(error);
  }

  const catalogue = createCatalogue(redis, config.prefix, config.catalogueTtlMs);
  const queues = new Map<string, Queue>();
  const events = new Map<string, Promise<QueueEvents>>();
  let closed = false;

  const assertOpen = () => {
    if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
  };

  const queueFor = (model: string): Queue => {
    let queue = queues.get(model);
    if (!queue) {
      queue = new Queue(queueName(model), {
        connection: redis,
        prefix: config.prefix,
        streams: { events: { maxLen: config.eventsMaxLen } },
      });
      queue.on('error', (err: Error) => log.warn({ err, model }, 'queue error'));
      // Each pending result() adds one 'closing' listener (removed when it settles); thousands of
      // concurrent waits are normal here, not a leak.
      queue.setMaxListeners(0);
      queues.set(model, queue);
    }
    return queue;
  };

  // One event listener per model, shared by every wait on that model's jobs. It reads the event
  // stream from its last entry as of now: left to itself QueueEvents starts at '$' only when its
  // first XREAD runs, and a job that finished between a waiter's state check and that read would
  // never be announced to it.
  const eventsFor = (model: string): Promise<QueueEvents> => {
    let ready = events.get(model);
    if (!ready) {
      ready = (async () => {
        const [last] = await redis.xrevrange(queueFor(model).keys.events!, '+', '-', 'COUNT', 1);
        const listener = new QueueEvents(queueName(model), {
          connection: { url: config.redisUrl, ...redisOptions('worker', 'conveyor-sdk-events') },
          prefix: config.prefix,
          lastEventId: last?.[0] ?? '0-0',
        });
        listener.on('error', (err: Error) => log.warn({ err, model }, 'queue events error'));
        await listener.waitUntilReady();
        return listener;
      })();
      ready.catch(() => events.delete(model));
      events.set(model, ready);
    }
    return ready;
  };

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

  function handle<O extends string>(model: string, id: string): JobHandle<O> {
    const queue = queueFor(model);
    const fetch = async (): Promise<Job | undefined> => {
      assertOpen();
      try {
        return (await queue.getJob(id)) ?? undefined;
      } catch (error) {
        throw unavailable(error);
      }
    };
    return {
      id,
      model,
      async status() {
        const job = await fetch();
        if (!job) return { id, model, state: 'unknown', attemptsMade: 0 };
        const state = await job
          .getState()
          .catch((error: unknown) => Promise.reject(unavailable(error)));
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
        const job = await fetch();
        if (!job) {
          throw new ConveyorError(
            'ERR_JOB_NOT_FOUND',
            `job ${id} does not exist (or was trimmed)`,
            {
              details: { jobId: id, model },
            },
          );
        }
        const state = await job
          .getState()
          .catch((error: unknown) => Promise.reject(unavailable(error)));
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
        const timeoutMs = waitOptions.timeoutMs ?? config.timeoutMs;
        const listener = await eventsFor(model).catch((error: unknown) =>
          Promise.reject(unavailable(error)),
        );
        const job = await fetch();
        if (!job) {
          throw new ConveyorError(
            'ERR_JOB_NOT_FOUND',
            `job ${id} of model "${model}" does not exist (or was trimmed)`,
            {
              details: { jobId: id, model },
            },
          );
        }
        try {
          await job.waitUntilFinished(listener, timeoutMs);
        } catch {
          // Failure or timeout: the job's own state says which.
        }
        const latest = await fetch();
        if (!latest)
          throw new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} was removed while waiting`, {
            details: { jobId: id, model },
          });
        const state = await latest
          .getState()
          .catch((error: unknown) => Promise.reject(unavailable(error)));
        if (!FINISHED.has(state)) {
          throw new ConveyorError(
            'ERR_JOB_TIMEOUT',
            `job ${id} did not finish within ${timeoutMs} ms; it is ${state}, fetch its result later`,
            {
              details: { jobId: id, model, state },
            },
          );
        }
        return settled(model, latest, state);
      },
    };
  }

  /** A job checked and encoded, ready for BullMQ's add or addBulk. */
  interface Prepared {
    payload: JobPayload;
    opts: JobsOptions;
  }

  async function prepare(
    name: string,
    inputs: TensorInputs,
    opts: ParsedPredictOptions,
  ): Promise<Prepared> {
    const tensors = toTensors(inputs, config.maxTensorBytes);
    const signature = await catalogue
      .signature(name, opts.version)
      .catch((error: unknown) => Promise.reject(unavailable(error)));
    checkRequest(signature, tensors, opts.outputs);

    const payload: JobPayload = {
      v: JOB_PAYLOAD_VERSION,
      model: name,
      inputs: Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, encodeTensor(t)])),
    };
    if (opts.version !== undefined) payload.version = opts.version;
    if (opts.outputs !== undefined) payload.outputs = opts.outputs;
    if (opts.deadline !== undefined)
      payload.deadline = opts.deadline instanceof Date ? opts.deadline.getTime() : opts.deadline;
    return {
      payload,
      opts: {
        jobId: newJobId(name, opts.idempotencyKey),
        ...(opts.priority !== undefined && { priority: opts.priority }),
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

  async function enqueue<O extends string>(
    model: string,
    inputs: TensorInputs,
    options: PredictOptions = {},
  ): Promise<JobHandle<O>> {
    assertOpen();
    // Everything that can be checked without Redis is checked first.
    const name = parseOrThrow(ModelNameSchema, model, 'model name');
    const opts = parseOrThrow(PredictOptionsSchema, options, 'predict options');
    const { payload, opts: jobOpts } = await prepare(name, inputs, opts);
    let job: Job;
    try {
      job = await queueFor(name).add('predict', payload, jobOpts);
    } catch (error) {
      throw unavailable(error);
    }
    log.debug({ jobId: job.id, model: name }, 'job enqueued');
    return handle<O>(name, String(job.id));
  }

  async function enqueueMany<O extends string>(
    model: string,
    items: readonly BulkItem[],
    options: BulkOptions = {},
  ): Promise<JobHandle<O>[]> {
    assertOpen();
    const name = parseOrThrow(ModelNameSchema, model, 'model name');
    const shared = parseOrThrow(BulkOptionsSchema, options, 'bulk options');
    const prepared: Prepared[] = [];
    for (const [index, item] of items.entries()) {
      try {
        const own = parseOrThrow(BulkItemOptionsSchema, item, `item ${index}`);
        prepared.push(
          await prepare(name, item.inputs, {
            ...shared,
            ...(own.idempotencyKey !== undefined && { idempotencyKey: own.idempotencyKey }),
          }),
        );
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
    let jobs: Job[];
    try {
      jobs = await queueFor(name).addBulk(
        prepared.map((p) => ({ name: 'predict', data: p.payload, opts: p.opts })),
      );
    } catch (error) {
      throw unavailable(error);
    }
    log.debug({ model: name, count: jobs.length }, 'jobs enqueued in bulk');
    return jobs.map((job) => handle<O>(name, String(job.id)));
  }

  return {
    enqueue,
    enqueueMany,
    async predict<O extends string>(
      model: string,
      inputs: TensorInputs,
      options: PredictOptions = {},
    ) {
      const job = await enqueue<O>(model, inputs, options);
      return job.result(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    },
    job<O extends string>(id: string) {
      assertOpen();
      const valid = parseOrThrow(JobIdSchema, id, 'job id');
      return handle<O>(modelOfJobId(valid), valid);
    },
    async models(): Promise<ModelInfo[]> {
      assertOpen();
      try {
        const models = await catalogue.list();
        const counts = new Map<string, number>();
        for (const name of new Set(models.map((m) => m.name)))
          counts.set(name, await queueFor(name).getWorkersCount());
        return models.map((m) => ({ ...m, workers: counts.get(m.name) ?? 0 }));
      } catch (error) {
        throw unavailable(error);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      const listeners = await Promise.allSettled([...events.values()]);
      await Promise.allSettled([
        ...listeners.map((l) => (l.status === 'fulfilled' ? l.value.close() : undefined)),
        ...[...queues.values()].map((q) => q.close()),
      ]);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
