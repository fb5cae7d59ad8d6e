import {
  SHADOW_MAX_BACKLOG,
  SHADOW_PRIORITY,
  checkRequest,
  dropUpdate,
  newJobId,
  queueName,
  routeOfJobId,
  type ComparisonPair,
  type DropReason,
  type ModelSignature,
} from '@conveyor/shared';
import type { AnnouncedVersion } from '../catalogue.js';
import { recordComparison } from '../comparisons.js';
import type { PreparedJob } from '../request.js';
import { addJobs, type BullJob, toBullJob } from './add-jobs.js';
import type { QueueContext } from './context.js';

/** A shadow queue's backlog is read again, in the background, once it is this old (ms). */
const BACKLOG_READ_MS = 1000;
/**
 * Copies are held this long (ms) and added together: one write to Redis, and one wake of the
 * shadow's workers, per interval rather than per live job, so a copy's add and fetch rarely land
 * beside its live job. Well inside the time a live job's side waits for its copy.
 */
const SEND_EVERY_MS = 25;
/** Copies held at most; more are added at once. */
const SEND_MAX_HELD = 512;

/** What shadowing reads: both are cached by the client and fresh from routing the job. */
export interface ShadowDeps {
  /** The shadow version of the alias a request for `ref` follows, if any (see Router.shadow). */
  shadowOf(model: string, ref: string | undefined): Promise<string | undefined>;
  /** shadowOf from the cached aliases, or null when they are not cached (see Router.shadowNow). */
  shadowNow(model: string, ref: string | undefined): string | undefined | null;
  /** The versions of a model that take jobs (the client's catalogue). */
  versions(model: string): Promise<AnnouncedVersion[]>;
}

/** Sends shadow copies of the jobs an alias with a shadow routes; see docs/lifecycle.md. */
export interface Shadowing {
  /** The shadow version of the alias a request for `ref` follows; undefined when none (or unread). */
  shadowOf(model: string, ref: string | undefined): Promise<string | undefined>;
  /**
   * The shadow version from the cached aliases: no read, no promise, the path of most jobs; null
   * when they are not cached, and shadowOf must read them.
   */
  shadowNow(model: string, ref: string | undefined): string | undefined | null;
  /**
   * The shadow copy of a job about to be added, marking the job (`shadowedBy`) when there is one;
   * undefined when its alias has no shadow or the copy is dropped (no live worker, a full
   * backlog, inputs the shadow version does not take: each counted on the pair). Reads cached
   * state only, never Redis on the caller's path.
   */
  copyOf(prepared: PreparedJob, job: BullJob, shadow: string): Promise<BullJob | undefined>;
  /**
   * Adds copies without waiting for them, within SEND_EVERY_MS, with those of other calls; a
   * failure is counted on the pair, never thrown.
   */
  send(copies: readonly BullJob[]): void;
  /** Adds the copies held now. Never rejects. */
  flush(): Promise<void>;
}

const signatureOf = (v: AnnouncedVersion): ModelSignature => ({
  name: v.name,
  version: v.version,
  inputs: v.inputs,
  outputs: v.outputs,
});

export function createShadowing(ctx: QueueContext, deps: ShadowDeps): Shadowing {
  const backlogs = new Map<string, { at: number; count: number }>();
  const { prefix } = ctx.config;

  /** The backlog last read (0 before the first read), reading it again in the background. */
  function backlogOf(queue: string): number {
    const known = backlogs.get(queue);
    if (!known || Date.now() - known.at >= BACKLOG_READ_MS) {
      const entry = { at: Date.now(), count: known?.count ?? 0 };
      backlogs.set(queue, entry);
      ctx.queues
        .readOnly(queue)
        .count()
        .then(
          (count) => {
            entry.count = count;
          },
          () => undefined,
        );
    }
    return known?.count ?? 0;
  }

  function count(pair: ComparisonPair, reason: DropReason): void {
    recordComparison(ctx.redis, prefix, pair, dropUpdate(reason)).catch((err: unknown) =>
      ctx.log.debug({ err }, 'shadow drop not counted'),
    );
  }

  const shadowOf = (model: string, ref: string | undefined) =>
    deps.shadowOf(model, ref).catch(() => undefined);

  async function copyOf(
    prepared: PreparedJob,
    job: BullJob,
    shadow: string,
  ): Promise<BullJob | undefined> {
    const { model } = prepared;
    const serving = prepared.signature.version;
    if (shadow === serving) return undefined;
    const pair: ComparisonPair = { source: 'shadow', model, serving, candidate: shadow };
    const announced = (await deps.versions(model).catch(() => [])).find(
      (v) => v.version === shadow,
    );
    if (!announced || announced.beating === 0) return void count(pair, 'no-worker');
    if (backlogOf(queueName(model, shadow)) >= SHADOW_MAX_BACKLOG)
      return void count(pair, 'backlog');
    try {
      checkRequest(announced, prepared.tensors, prepared.outputs);
    } catch {
      return void count(pair, 'incompatible');
    }
    // No key, no deadline: a copy is never retried or failed for lateness; the backlog bounds it.
    const options = { ...prepared.options, priority: SHADOW_PRIORITY };
    delete options.idempotencyKey;
    delete options.deadline;
    const copy = toBullJob(ctx, {
      ...prepared,
      jobId: newJobId(model, shadow),
      signature: signatureOf(announced),
      options,
      deadline: undefined,
    });
    copy.payload.shadowOf = prepared.jobId;
    copy.opts.attempts = 1;
    copy.opts.removeOnComplete = true;
    job.payload.shadowedBy = copy.jobId;
    return copy;
  }

  let held: BullJob[] = [];
  let timer: NodeJS.Timeout | undefined;

  function send(copies: readonly BullJob[]): void {
    if (copies.length === 0) return;
    held.push(...copies);
    if (held.length >= SEND_MAX_HELD) void flush();
    else timer ??= setTimeout(() => void flush(), SEND_EVERY_MS);
  }

  function flush(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    const copies = held;
    held = [];
    return copies.length > 0 ? addCopies(copies) : Promise.resolve();
  }

  async function addCopies(copies: readonly BullJob[]): Promise<void> {
    await addJobs(ctx, copies).catch((err: unknown) => {
      ctx.log.debug({ err }, 'shadow copies not added');
      for (const copy of copies) {
        if (copy.payload.shadowOf === undefined) continue;
        const pair: ComparisonPair = {
          source: 'shadow',
          model: copy.payload.model,
          serving: routeOfJobId(copy.payload.shadowOf).version,
          candidate: routeOfJobId(copy.jobId).version,
        };
        count(pair, 'error');
      }
    });
  }

  const shadowNow = (model: string, ref: string | undefined) => deps.shadowNow(model, ref);
  return { shadowOf, shadowNow, copyOf, send, flush };
}
