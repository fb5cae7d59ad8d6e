import { randomUUID } from 'node:crypto';
import {
  ConveyorError,
  queueKey,
  type Logger,
  type RedisClient,
  hashTagOf,
  isCluster,
} from '@conveyor/shared';
import type { JobEvent } from '../client.js';

/** One entry of a BullMQ queue's event stream, as BullMQ writes it. */
export interface QueueEvent {
  /** `completed`, `failed`, `active`, `progress`, `removed`, `waiting`, `delayed`, ... */
  event: string;
  jobId: string;
  /** Every other field: `returnvalue`, `failedReason`, `data`, `prev`, ... */
  fields: Readonly<Record<string, string>>;
}

/**
 * The one listener of a client: a single connection that blocks on XREAD over the event stream
 * of every queue (model version) the client has used, and hands each entry to the subscribers of its job id. A
 * thousand waits on ten models cost one connection and no polling (on a Redis Cluster, one
 * connection per model, since one XREAD reads the keys of one slot only).
 */
export interface EventHub {
  /**
   * Starts reading a queue's event stream (once per queue) from its last entry as of now. A
   * waiter that watches, subscribes and only then reads its job's state misses no event, since every
   * change after that read is in the stream after the pinned entry.
   */
  watch(queue: string): Promise<void>;
  /** Calls `listener` with each event of the job until the returned function is called. */
  subscribe(jobId: string, listener: (event: QueueEvent) => void): () => void;
  /**
   * Keeps the end (`completed`, `failed` or `removed`) of jobs this client is about to add, for
   * `ttlMs`: call it after `watch` and before adding them, and a later wait takes the end from
   * here instead of reading the job.
   */
  expect(jobIds: readonly string[], ttlMs: number): void;
  /**
   * The kept end of an expected job; `pending` while it is expected and has not ended; undefined
   * for a job this client did not add (or whose end was kept past its ttl).
   */
  take(jobId: string): QueueEvent | 'pending' | undefined;
  close(): Promise<void>;
}

const ENDS: ReadonlySet<string> = new Set(['completed', 'failed', 'removed']);
/**
 * Ends kept at most (the oldest go first): a client that enqueues fast and never waits holds no
 * more than this many small return values; a handle whose end was dropped reads its job instead.
 */
const MAX_EXPECTED = 50_000;

/** The longest one XREAD blocks, in ms; a new model interrupts it through the wake stream anyway. */
const BLOCK_MS = 10_000;
/** Entries read per stream per XREAD. */
const READ_COUNT = 1000;

/** A blocking reader of the event streams of one cluster slot (of every stream, on one Redis). */
interface Reader {
  /** Stream key to the id of the last entry read. */
  streams: Map<string, string>;
  wakeKey: string;
  listener?: RedisClient;
  reading?: Promise<void>;
}

/** Alternating field/value list to a record. */
function fieldsOf(list: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) fields[list[i] as string] = list[i + 1] as string;
  return fields;
}

/**
 * `main` answers ordinary commands (the start id of each stream, the wake signal); the listener
 * is a connection of its own, opened on the first watch and used for nothing but the blocking read.
 */
export function createEventHub(
  main: RedisClient,
  openListener: () => RedisClient,
  prefix: string,
  log: Logger,
): EventHub {
  const eventsKey = (queue: string) => queueKey(prefix, queue, 'events');
  // One XREAD may only name keys of one cluster slot: on a Redis Cluster each model (hash tag)
  // is read by a reader of its own; on a single Redis one reader reads every stream.
  const cluster = isCluster(main);
  const id = randomUUID();
  const readers = new Map<string, Reader>();
  const watched = new Map<string, Promise<void>>();
  const subscribers = new Map<string, Set<(event: QueueEvent) => void>>();
  let closed = false;

  /** Expected jobs by id, oldest first: until (epoch ms) and their end once it came. */
  const expected = new Map<string, { until: number; end?: QueueEvent }>();
  const forgetExpired = (now: number) => {
    for (const [id, entry] of expected) {
      if (entry.until > now && expected.size <= MAX_EXPECTED) break;
      expected.delete(id);
    }
  };

  const dispatch = (fields: Record<string, string>) => {
    const { event, jobId } = fields;
    if (event === undefined || jobId === undefined) return;
    const entry: QueueEvent = { event, jobId, fields };
    const kept = expected.get(jobId);
    if (kept && kept.end === undefined && ENDS.has(event)) kept.end = entry;
    const listeners = subscribers.get(jobId);
    if (!listeners) return;
    for (const fn of [...listeners]) {
      try {
        fn(entry);
      } catch (err) {
        log.error({ err, jobId }, 'job event listener threw');
      }
    }
  };

  async function loop(reader: Reader, connection: RedisClient): Promise<void> {
    let failures = 0;
    while (!closed) {
      const keys = [...reader.streams.keys()];
      try {
        const reply = await connection.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          ...keys,
          ...keys.map((key) => reader.streams.get(key) as string),
        );
        failures = 0;
        for (const [key, entries] of reply ?? []) {
          for (const [id, list] of entries) {
            reader.streams.set(key, id);
            if (key !== reader.wakeKey) dispatch(fieldsOf(list));
          }
        }
      } catch (err) {
        if (closed) return;
        // ioredis reconnects by itself; wait a little so a down Redis is not spun on.
        failures += 1;
        log.warn({ err, failures }, 'job event read failed');
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** failures, 5000)));
      }
    }
  }

  /** The reader of a stream's slot, made on first use. */
  const readerOf = (key: string): Reader => {
    const tag = cluster ? hashTagOf(key) : '';
    let reader = readers.get(tag);
    if (!reader) {
      // Appending to this stream ends a blocking XREAD at once, so a model used for the first
      // time is read without waiting for the block to time out. It needs no more rights than
      // BullMQ's own XADD (CLIENT UNBLOCK is an admin command managed Redis services often refuse).
      const wakeKey = cluster ? `${prefix}:{${tag}}:sdk-wake:${id}` : `${prefix}:sdk-wake:${id}`;
      reader = { wakeKey, streams: new Map([[wakeKey, '0-0']]) };
      readers.set(tag, reader);
    }
    return reader;
  };

  return {
    watch(queue) {
      let ready = watched.get(queue);
      if (!ready) {
        ready = (async () => {
          if (closed) throw new ConveyorError('ERR_CLOSED', 'the client is closed');
          const key = eventsKey(queue);
          const reader = readerOf(key);
          const [last] = await main.xrevrange(key, '+', '-', 'COUNT', 1);
          reader.streams.set(key, last?.[0] ?? '0-0');
          if (reader.reading) {
            await main.xadd(reader.wakeKey, 'MAXLEN', '1', '*', 'wake', '1');
            await main.pexpire(reader.wakeKey, 86_400_000);
          } else {
            reader.listener = openListener();
            reader.reading = loop(reader, reader.listener);
          }
        })();
        ready.catch(() => watched.delete(queue));
        watched.set(queue, ready);
      }
      return ready;
    },
    subscribe(jobId, fn) {
      let listeners = subscribers.get(jobId);
      if (!listeners) {
        listeners = new Set();
        subscribers.set(jobId, listeners);
      }
      listeners.add(fn);
      return () => {
        const current = subscribers.get(jobId);
        if (!current) return;
        current.delete(fn);
        if (current.size === 0) subscribers.delete(jobId);
      };
    },
    expect(jobIds, ttlMs) {
      const now = Date.now();
      forgetExpired(now);
      for (const id of jobIds) expected.set(id, { until: now + ttlMs });
    },
    take(jobId) {
      const kept = expected.get(jobId);
      if (!kept) return undefined;
      if (kept.end === undefined) return 'pending';
      expected.delete(jobId);
      return kept.end;
    },
    async close() {
      if (closed) return;
      closed = true;
      subscribers.clear();
      expected.clear();
      // Disconnecting ends the blocking read at once; QUIT would wait for it.
      for (const reader of readers.values()) reader.listener?.disconnect();
      await Promise.all([...readers.values()].flatMap((reader) => reader.reading ?? []));
      for (const reader of readers.values())
        if (reader.listener) await main.del(reader.wakeKey).catch(() => undefined);
    },
  };
}

/** The JobEvent a BullMQ stream event means, if any. */
export function toJobEvent(entry: QueueEvent): JobEvent | undefined {
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
