import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { redisOptions, type Logger } from '@conveyor/shared';

/** One change of a job, as a model version queue's event stream announces it. */
export type JobEvent =
  | { type: 'waiting' | 'delayed' | 'active' | 'removed' }
  | { type: 'progress'; progress: unknown }
  | { type: 'completed'; returnvalue: unknown }
  | { type: 'failed'; failedReason: string };

export type JobEventListener = (event: JobEvent) => void;

/**
 * Job events for every open stream of the producer (SSE, batch results in completion order),
 * from one BullMQ QueueEvents per queue (model version), so that waiting never polls Redis per job.
 */
export interface JobEvents {
  /**
   * Calls `listener` for each event of the job from now on. Resolves once the queue's listener
   * reads the stream from a point before this call, so a state read after it misses nothing.
   * The returned function unsubscribes.
   */
  subscribe(queue: string, jobId: string, listener: JobEventListener): Promise<() => void>;
  /** Closes every listener; later subscriptions reject. */
  close(): Promise<void>;
}

const KINDS = [
  'waiting',
  'delayed',
  'active',
  'removed',
  'progress',
  'completed',
  'failed',
] as const;

interface Args {
  jobId?: string;
  data?: unknown;
  returnvalue?: unknown;
  failedReason?: string;
}

function toEvent(kind: (typeof KINDS)[number], args: Args): JobEvent {
  switch (kind) {
    case 'progress':
      return { type: kind, progress: args.data };
    case 'completed':
      return { type: kind, returnvalue: args.returnvalue };
    case 'failed':
      return { type: kind, failedReason: String(args.failedReason ?? '') };
    default:
      return { type: kind };
  }
}

export function createJobEvents(options: {
  redisUrl: string;
  prefix: string;
  /** Reads the last id of a stream before a listener starts; a non-blocking connection. */
  redis: Redis;
  logger: Logger;
}): JobEvents {
  const { redisUrl, prefix, redis, logger: log } = options;
  const listeners = new Map<string, Map<string, Set<JobEventListener>>>();
  const started = new Map<string, Promise<QueueEvents>>();
  let closed = false;

  const dispatch = (name: string, kind: (typeof KINDS)[number], args: Args) => {
    const set = args.jobId === undefined ? undefined : listeners.get(name)?.get(args.jobId);
    if (!set) return;
    const event = toEvent(kind, args);
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (err) {
        log.warn({ err, queue: name, jobId: args.jobId }, 'job event listener failed');
      }
    }
  };

  // Left to itself QueueEvents starts at '$' when its first XREAD runs, so an event written
  // between a caller's subscribe and that read would be lost; start from the stream's last id.
  const start = (name: string): Promise<QueueEvents> => {
    let ready = started.get(name);
    if (!ready) {
      ready = (async () => {
        const [last] = await redis.xrevrange(`${prefix}:${name}:events`, '+', '-', 'COUNT', 1);
        const events = new QueueEvents(name, {
          connection: { url: redisUrl, ...redisOptions('worker', 'conveyor-producer-events') },
          prefix,
          lastEventId: last?.[0] ?? '0-0',
        });
        events.on('error', (err: Error) => log.warn({ err, queue: name }, 'queue events error'));
        for (const kind of KINDS) events.on(kind, (args: Args) => dispatch(name, kind, args));
        await events.waitUntilReady();
        return events;
      })();
      ready.catch(() => started.delete(name));
      started.set(name, ready);
    }
    return ready;
  };

  return {
    async subscribe(name, jobId, listener) {
      if (closed) throw new Error('job events are closed');
      let byJob = listeners.get(name);
      if (!byJob) listeners.set(name, (byJob = new Map<string, Set<JobEventListener>>()));
      let set = byJob.get(jobId);
      if (!set) byJob.set(jobId, (set = new Set()));
      set.add(listener);
      const unsubscribe = () => {
        set.delete(listener);
        if (set.size === 0 && byJob.get(jobId) === set) byJob.delete(jobId);
      };
      try {
        await start(name);
      } catch (error) {
        unsubscribe();
        throw error;
      }
      return unsubscribe;
    },
    async close() {
      closed = true;
      listeners.clear();
      const all = await Promise.allSettled([...started.values()]);
      await Promise.allSettled(
        all.map((s) => (s.status === 'fulfilled' ? s.value.close() : Promise.resolve())),
      );
    },
  };
}
