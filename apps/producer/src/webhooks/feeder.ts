import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  redisOptions,
  throttledErrorLog,
  type Logger,
  queueKey,
  createRedisClient,
  hashTagOf,
  isCluster,
  redisTarget,
  type RedisClient,
  type RedisTopology,
} from '@conveyor/shared';

/** The consumer group every producer replica joins on each model's event stream. */
export const WEBHOOK_GROUP = 'conveyor-webhooks';

/**
 * A job that finished, as read from a model's event stream: which job, and how. Its outcome is
 * read through the SDK (large outputs are not in the event), so the entry's return value and
 * failure reason are left unread.
 */
export interface Finished {
  jobId: string;
  status: 'completed' | 'failed';
}

type Entry = [id: string, fields: string[] | null];

/**
 * Reads the BullMQ event streams of the models it watches with XREADGROUP, in one consumer
 * group shared by every producer replica, so that each `completed` or `failed` event is handed to
 * one replica, and a restarted producer resumes where the group stopped. An entry is acknowledged
 * after `onFinished` settles; entries a crashed replica read but never acknowledged are claimed by
 * `reclaim()` once idle for `claimIdleMs`.
 */
export interface EventFeeder {
  /** Creates the group on a queue's (model version's) stream, at its end, and reads it from now on. */
  watch(queue: string): Promise<void>;
  /** Takes over entries other consumers left unacknowledged for longer than claimIdleMs. */
  reclaim(): Promise<void>;
  close(): Promise<void>;
}

/** The job an entry names, when the entry is a job's end; scans its fields without a map. */
function parseEntry(fields: string[] | null): Finished | undefined {
  if (!fields) return undefined;
  let jobId: string | undefined;
  let status: Finished['status'] | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [name, value] = [fields[i], fields[i + 1]];
    if (name === 'jobId') jobId = value;
    else if (name === 'event' && (value === 'completed' || value === 'failed')) status = value;
  }
  return jobId !== undefined && status !== undefined ? { jobId, status } : undefined;
}

export function createEventFeeder(options: {
  redisUrl: string;
  /** A cluster's seed nodes or a Sentinel group (configTopology); `redisUrl` then gives credentials. */
  topology?: RedisTopology | undefined;
  prefix: string;
  /** A non-blocking connection for XGROUP, XACK and XAUTOCLAIM. */
  redis: RedisClient;
  logger: Logger;
  onFinished: (finished: Finished) => Promise<void>;
  /** How long an XREADGROUP blocks, in ms; a newly watched model is read after at most this. */
  blockMs?: number;
  /** Idle time after which another consumer's unacknowledged entry is taken over, in ms. */
  claimIdleMs?: number;
}): EventFeeder {
  const { prefix, redis, logger: log, onFinished } = options;
  const blockMs = options.blockMs ?? 2000;
  const claimIdleMs = options.claimIdleMs ?? 60_000;
  const consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const streams = new Map<string, string>();
  // One XREADGROUP reads the streams of one cluster slot: on a Redis Cluster each model (hash tag)
  // has a reader of its own, on a single Redis one reader reads them all.
  const cluster = isCluster(redis);
  const readers = new Map<
    string,
    { streams: Set<string>; blocking: RedisClient; loop: Promise<void> }
  >();
  let closing = false;

  const createGroup = async (stream: string) => {
    try {
      await redis.xgroup('CREATE', stream, WEBHOOK_GROUP, '$', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
    }
  };

  const handle = async (stream: string, entries: Entry[]) => {
    const ids: string[] = [];
    for (const [id, fields] of entries) {
      const finished = parseEntry(fields);
      // An entry whose handling failed stays pending, to be reclaimed and tried again.
      if (finished) {
        try {
          await onFinished(finished);
        } catch (err) {
          log.warn({ err, jobId: finished.jobId }, 'webhook feed failed; will retry');
          continue;
        }
      }
      ids.push(id);
    }
    if (ids.length > 0) await redis.xack(stream, WEBHOOK_GROUP, ...ids);
  };

  const run = async (own: Set<string>, blocking: RedisClient) => {
    while (!closing) {
      const keys = [...own];
      try {
        const reply = await blocking.xreadgroup(
          'GROUP',
          WEBHOOK_GROUP,
          consumer,
          'COUNT',
          200,
          'BLOCK',
          blockMs,
          'STREAMS',
          ...keys,
          ...keys.map(() => '>'),
        );
        for (const [stream, entries] of (reply ?? []) as [string, Entry[]][])
          await handle(stream, entries);
      } catch (err) {
        if (closing) return;
        // A stream deleted under us (its queue obliterated) loses its group: create it again.
        if (err instanceof Error && err.message.startsWith('NOGROUP')) {
          await Promise.allSettled(keys.map(createGroup));
          continue;
        }
        log.warn({ err }, 'webhook feed read failed');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  };

  return {
    async watch(queue) {
      if (streams.has(queue) || closing) return;
      const stream = queueKey(prefix, queue, 'events');
      await createGroup(stream);
      streams.set(queue, stream);
      const tag = cluster ? hashTagOf(stream) : '';
      const reader = readers.get(tag);
      if (reader) return void reader.streams.add(stream);
      const own = new Set([stream]);
      const blocking = createRedisClient(redisTarget(options.redisUrl, options.topology), {
        ...redisOptions('worker', 'conveyor-producer-webhook-feeder'),
        lazyConnect: true,
      });
      blocking.on('error', throttledErrorLog(log, 'redis connection error'));
      const connected = blocking.connect();
      const loop = connected.then(
        () => run(own, blocking),
        () => void readers.delete(tag),
      );
      readers.set(tag, { streams: own, blocking, loop });
      await connected;
    },
    async reclaim() {
      for (const stream of streams.values()) {
        let cursor = '0-0';
        for (let round = 0; round < 100 && !closing; round++) {
          const [next, entries] = (await redis.xautoclaim(
            stream,
            WEBHOOK_GROUP,
            consumer,
            claimIdleMs,
            cursor,
            'COUNT',
            200,
          )) as [string, Entry[]];
          await handle(stream, entries);
          if (next === '0-0') break;
          cursor = next;
        }
      }
    },
    async close() {
      closing = true;
      for (const reader of readers.values()) reader.blocking.disconnect();
      await Promise.all([...readers.values()].map((reader) => reader.loop));
      // Leave no empty consumers behind; one with pending entries stays for reclaim().
      for (const stream of streams.values()) {
        const pending = (await redis
          .xpending(stream, WEBHOOK_GROUP, '-', '+', 1, consumer)
          .catch(() => [1])) as unknown[];
        if (pending.length === 0)
          await redis.xgroup('DELCONSUMER', stream, WEBHOOK_GROUP, consumer).catch(() => 0);
      }
    },
  };
}
