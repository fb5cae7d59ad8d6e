import {
  ConveyorError,
  isConveyorError,
  newJobId,
  parseOrThrow,
  queueOfJobId,
  type ModelSignature,
  type ParsedPredictOptions,
  withRandomUuid,
} from '@conveyor/shared';
import { BulkItemOptionsSchema, BulkOptionsSchema, type Prediction } from '../client.js';
import { keyInProgress, keyReused, requestFingerprint, type Idempotency } from '../idempotency.js';
import {
  modelTarget,
  predictOptions,
  prepareSigned,
  refuseWithoutSignature,
  type ModelTarget,
  type PreparedJob,
} from '../request.js';
import { acceptWhile, startAccept, type AcceptSpan } from './accept-span.js';
import { addJobs, toBullJob, type BullJob } from './add-jobs.js';
import type { QueueContext } from './context.js';
import { waitFor } from './job-wait.js';
import type { Shadowing } from './shadow-copy.js';

/**
 * Milliseconds a key's first request has to add its job before a repeat takes over. Taking over
 * is safe at any time (the job id is fixed by the key, so BullMQ adds it once); the window only
 * tells a repeat that arrives while the first is still at work to come back (409).
 */
const ACCEPT_WINDOW_MS = 2000;

/** No shadow copies: what most calls send. */
const NO_COPIES: readonly BullJob[] = Object.freeze([]);

/**
 * The queues of job ids this client made (`<model>.<version>.<uuid>`, valid by construction): one
 * parse per model version rather than one per job.
 */
export function queuesOf(jobIds: Iterable<string>): Set<string> {
  const queues = new Set<string>();
  const seen = new Set<string>();
  for (const id of jobIds) {
    const version = id.slice(0, id.lastIndexOf('.'));
    if (seen.has(version)) continue;
    seen.add(version);
    queues.add(queueOfJobId(id));
  }
  return queues;
}

/** What enqueueing needs beside the context: routing, signatures and idempotency keys. */
export interface EnqueueDeps {
  /** The version a request for `ref` (a version, an alias, or production) runs on. */
  route: (model: string, ref?: string) => Promise<string>;
  /** What `route` reads, read once for the jobs of one call (see Router.picker). */
  routes: (model: string, ref?: string) => Promise<CallRoutes>;
  prepare: (
    target: ModelTarget,
    inputs: unknown,
    opts: ParsedPredictOptions,
  ) => Promise<PreparedJob>;
  /**
   * `prepare` at once, from the cached routing and signature; undefined when they are not cached.
   * Throws what `prepare` rejects with once it has the signature.
   */
  prepareNow: (
    target: ModelTarget,
    inputs: unknown,
    opts: ParsedPredictOptions,
  ) => PreparedJob | undefined;
  idempotency: Idempotency;
  /** Sends shadow copies of jobs routed through an alias that has a shadow. */
  shadowing?: Shadowing;
}

/** How the jobs of one call are routed: a version drawn per job, and each version's signature. */
export interface CallRoutes {
  pick: () => string;
  signature: (version: string) => Promise<ModelSignature>;
}

/** A version's signature and the start of its jobs' ids (`<model>.<version>.`). */
interface Signed {
  signature: ModelSignature;
  idBase: string;
}

/** An item of enqueueMany that BulkItemOptionsSchema takes as it is, with no idempotency key. */
const isPlainUnkeyed = (item: unknown): boolean =>
  typeof item === 'object' &&
  item !== null &&
  Object.getPrototypeOf(item) === Object.prototype &&
  (item as { idempotencyKey?: unknown }).idempotencyKey === undefined;

/** The queue client's enqueue, predict, enqueueMany and jobIdFor. */
export function createEnqueue(ctx: QueueContext, deps: EnqueueDeps) {
  const { idempotency, prepare, prepareNow, shadowing } = deps;
  /**
   * Adds jobs, and the shadow copies of those whose alias has a shadow: the copies are sent right
   * behind the jobs on the same connection and never waited for, so they cost the caller no round
   * trip and never an error. Not an async function: most calls have no copy to read, and the
   * producer's every request comes this way (each async function in the chain is a promise and a
   * suspended frame that a request in flight keeps alive); it may throw at once.
   */
  const addShadowed = (jobs: readonly PreparedJob[], accept?: AcceptSpan): Promise<void> => {
    const bull = jobs.map((job) => toBullJob(ctx, job, accept?.metadata));
    // Copies are made first: making one marks its live job (`shadowedBy`) before the job is added.
    const found = shadowing ? shadowCopies(shadowing, jobs, bull) : NO_COPIES;
    const addWith = (copies: readonly BullJob[]) => {
      const added = addJobs(ctx, bull, accept?.traceId);
      if (copies.length > 0) shadowing?.send(copies);
      return added;
    };
    return found instanceof Promise ? found.then(addWith) : addWith(found);
  };

  /**
   * The shadow copies of jobs whose alias has a shadow: at once, with no promise, when the cached
   * aliases say that none has one (most calls).
   */
  function shadowCopies(
    shadowing: Shadowing,
    jobs: readonly PreparedJob[],
    bull: readonly BullJob[],
  ): readonly BullJob[] | Promise<BullJob[]> {
    let asked: PreparedJob | undefined;
    for (const job of jobs) {
      // The jobs of a call share their model and version ref: asked once per run of them.
      if (asked?.model === job.model && asked.options.version === job.options.version) continue;
      asked = job;
      if (shadowing.shadowNow(job.model, job.options.version) !== undefined)
        return copiesOf(shadowing, jobs, bull);
    }
    return NO_COPIES;
  }

  /**
   * shadowCopies' work when some job may have a shadow. The shadows come from the cached aliases;
   * where those are not cached, they are read once per model and version asked for, not per job.
   */
  async function copiesOf(
    shadowing: Shadowing,
    jobs: readonly PreparedJob[],
    bull: readonly BullJob[],
  ): Promise<BullJob[]> {
    const copies: BullJob[] = [];
    let read: Map<string, Promise<string | undefined>> | undefined;
    const { shadowSample } = ctx.config;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i] as PreparedJob;
      const { model } = job;
      const { version } = job.options;
      let shadow = shadowing.shadowNow(model, version);
      if (shadow === null) {
        read ??= new Map();
        const ref = `${model}\u0000${version ?? ''}`;
        let reading = read.get(ref);
        if (!reading) read.set(ref, (reading = shadowing.shadowOf(model, version)));
        shadow = await reading;
      }
      if (shadow === undefined) continue;
      // A sample of the traffic: the rest is served as if the alias had no shadow.
      if (shadowSample < 1 && Math.random() >= shadowSample) continue;
      const copy = await shadowing.copyOf(job, bull[i] as BullJob, shadow);
      if (copy) copies.push(copy);
    }
    return copies;
  }
  const add = async (prepared: PreparedJob, accept?: AcceptSpan): Promise<string> => {
    accept?.job(prepared.jobId, prepared.signature.version);
    await addShadowed([prepared], accept);
    return prepared.jobId;
  };

  /**
   * Has the shared listener keep the ends of jobs about to be added, so their handles' result()
   * needs no read of the job (only for new ids: a keyed job may exist already).
   */
  async function expectEnds(jobIds: readonly string[]): Promise<void> {
    if (!ctx.config.keepJobEnds) return;
    const queues = queuesOf(jobIds);
    await Promise.all([...queues].map((q) => ctx.hub.watch(q))).catch(ctx.rejectUnavailable);
    ctx.hub.expect(jobIds, ctx.config.timeoutMs);
  }

  /** expectEnds at once when their queues' streams are read already; false when they are not. */
  function expectEndsNow(jobIds: readonly string[]): boolean {
    if (!ctx.config.keepJobEnds) return true;
    for (const queue of queuesOf(jobIds)) if (!ctx.hub.watching(queue)) return false;
    ctx.hub.expect(jobIds, ctx.config.timeoutMs);
    return true;
  }

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
    accept: AcceptSpan | undefined,
  ) {
    const { options } = prepared;
    const fingerprint = requestFingerprint(target.name, inputs, options);
    const digest = await idempotency.digest(options.owner, key).catch(ctx.rejectUnavailable);
    const claim = await idempotency
      .claim(digest, prepared.signature.version, fingerprint)
      .catch(ctx.rejectUnavailable);
    if (claim.status === 'mismatch') throw keyReused(key, target.name);
    const jobId = newJobId(target.name, claim.version, digest);
    if (claim.status === 'same') {
      const state = await ctx.queues.ofJob(jobId).getJobState(jobId).catch(ctx.rejectUnavailable);
      if (state !== 'unknown') {
        accept?.job(jobId, claim.version);
        return jobId;
      }
      if (claim.ageMs < ACCEPT_WINDOW_MS) throw keyInProgress(key, target.name);
    }
    // The key's first request may have run on another version (an alias moved since).
    const job =
      claim.version === prepared.signature.version
        ? prepared
        : await prepare(target, inputs, { ...options, version: claim.version });
    return add({ ...job, jobId }, accept);
  }

  /** Adds a prepared job (through its key's record when it has one); resolves with its id. */
  const addPrepared = (
    prepared: PreparedJob,
    inputs: unknown,
    target: ModelTarget,
    accept: AcceptSpan | undefined,
  ) =>
    prepared.options.idempotencyKey === undefined
      ? add(prepared, accept)
      : addKeyed(prepared, inputs, target, prepared.options.idempotencyKey, accept);

  async function enqueue(model: unknown, inputs: unknown, options?: unknown): Promise<string> {
    ctx.assertOpen();
    // Everything that can be checked without Redis is checked first.
    const target = modelTarget(model);
    const opts = predictOptions(options);
    const accept = startAccept(target.name, opts.traceparent, ctx.log);
    // Most calls (no span, no key, routing and signature cached, the stream read already) wait
    // for nothing but the job's add: one suspended frame here rather than one per step.
    const now =
      accept || opts.idempotencyKey !== undefined ? undefined : prepareNow(target, inputs, opts);
    if (now && expectEndsNow([now.jobId])) {
      await addShadowed([now]);
      return now.jobId;
    }
    const enqueued = async () => {
      const prepared = now ?? (await prepare(target, inputs, opts));
      if (prepared.options.idempotencyKey === undefined) await expectEnds([prepared.jobId]);
      return addPrepared(prepared, inputs, target, accept);
    };
    return acceptWhile(accept, enqueued());
  }

  /**
   * Enqueues and waits. A job without an idempotency key has a new id, so the wait subscribes
   * first and enqueues after, and reads nothing back; a keyed job may exist already (finished or
   * not), so it is enqueued, then read and waited for like any handle's result.
   */
  async function predict(model: unknown, inputs: unknown, options?: unknown): Promise<Prediction> {
    ctx.assertOpen();
    const target = modelTarget(model);
    const opts = predictOptions(options);
    // The span ends once the job is added; the wait for its result is the caller's.
    const accept = startAccept(target.name, opts.traceparent, ctx.log);
    const prepared =
      (!accept && prepareNow(target, inputs, opts)) ||
      (await acceptWhile(accept, prepare(target, inputs, opts), true));
    const timeoutMs = opts.timeoutMs ?? ctx.config.timeoutMs;
    if (opts.idempotencyKey !== undefined) {
      const id = await acceptWhile(accept, addPrepared(prepared, inputs, target, accept));
      return waitFor(ctx, id, timeoutMs);
    }
    const waited = waitFor(ctx, prepared.jobId, timeoutMs, () =>
      acceptWhile(accept, add(prepared, accept)),
    );
    // A wait that fails before it adds the job (Redis away) ends the span too.
    if (!accept) return waited;
    return waited.catch((error: unknown) => {
      accept.end(error);
      throw error;
    });
  }

  /** Validates every item first (one bad item refuses the call, naming its index), then adds. */
  async function enqueueMany(
    model: unknown,
    items: readonly { inputs: unknown; idempotencyKey?: string }[],
    options?: unknown,
  ): Promise<string[]> {
    ctx.assertOpen();
    const target = modelTarget(model);
    const shared = parseOrThrow(BulkOptionsSchema, options ?? {}, 'bulk options');
    const accept = startAccept(target.name, shared.traceparent, ctx.log);
    return acceptWhile(accept, addMany(target, items, shared, accept));
  }

  /** enqueueMany's work, in its `accept` span. */
  async function addMany(
    target: ModelTarget,
    items: readonly { inputs: unknown; idempotencyKey?: string }[],
    shared: ParsedPredictOptions,
    accept: AcceptSpan | undefined,
  ): Promise<string[]> {
    const prepared: { job: PreparedJob; inputs: unknown }[] = [];
    const { maxTensorBytes } = ctx.config;
    // Routing is read once, at the first item (none for an empty call); each job draws its
    // version from it, and each version's signature is read once.
    let routes: CallRoutes | undefined;
    const signed = new Map<string, Signed>();
    for (let index = 0; index < items.length; index++) {
      const item = items[index] as (typeof items)[number];
      try {
        // A plain item without a key has nothing the schema could refuse: no parse per item.
        const key = isPlainUnkeyed(item)
          ? undefined
          : parseOrThrow(BulkItemOptionsSchema, item, `item ${index}`).idempotencyKey;
        const opts = key === undefined ? shared : { ...shared, idempotencyKey: key };
        // Without a signature, the item's inputs are checked first (as prepareJob does).
        routes ??= await deps
          .routes(target.name, shared.version)
          .catch((error: unknown) => refuseWithoutSignature(item.inputs, maxTensorBytes, error));
        const version = routes.pick();
        let known = signed.get(version);
        if (known === undefined) {
          const signature = await routes
            .signature(version)
            .catch((error: unknown) => refuseWithoutSignature(item.inputs, maxTensorBytes, error));
          // Valid by construction once newJobId has checked them.
          known = { signature, idBase: newJobId(target.name, version, '') };
          signed.set(version, known);
        }
        const id = withRandomUuid(known.idBase);
        const job = prepareSigned(target, item.inputs, opts, known.signature, maxTensorBytes, id);
        prepared.push({ job, inputs: item.inputs });
      } catch (error) {
        const known = isConveyorError(error) ? error : ctx.unavailable(error);
        throw new ConveyorError(known.code, `item ${index}: ${known.message}`, {
          cause: known,
          details: { ...known.details, index },
          issues: [...known.issues],
        });
      }
    }
    const plain = prepared.filter((p) => p.job.options.idempotencyKey === undefined);
    if (plain.length > 0) await expectEnds(plain.map((p) => p.job.jobId));
    const first = prepared[0]?.job;
    if (first) accept?.job(first.jobId, first.signature.version, prepared.length);
    await addShadowed(
      plain.map((p) => p.job),
      accept,
    );
    // Keyed jobs go one by one through their keys' records, in the order given.
    const ids = new Map<PreparedJob, string>();
    for (const { job, inputs } of prepared) {
      if (job.options.idempotencyKey !== undefined)
        ids.set(job, await addPrepared(job, inputs, target, accept));
    }
    return prepared.map(({ job }) => ids.get(job) ?? job.jobId);
  }

  async function jobIdFor(model: string, options: unknown = {}): Promise<string> {
    ctx.assertOpen();
    const target = modelTarget(model);
    const opts = predictOptions(options);
    if (opts.idempotencyKey === undefined)
      return newJobId(target.name, await deps.route(target.name, opts.version));
    const digest = await idempotency
      .digest(opts.owner, opts.idempotencyKey)
      .catch(ctx.rejectUnavailable);
    const version = await deps.route(target.name, opts.version);
    const reserved = await idempotency.reserve(digest, version).catch(ctx.rejectUnavailable);
    return newJobId(target.name, reserved, digest);
  }

  return { enqueue, predict, enqueueMany, jobIdFor };
}
