import { randomUUID } from 'node:crypto';
import {
  ConveyorError,
  queueKey,
  queueOfJobId,
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
 * The one listener of a client: a single connection that blocks on XREAD over the event stream of
 * every queue (model version) the client has used, and hands each entry to the subscribers of its
 * job id. A thousand waits on ten models cost one connection and no polling (on a Redis Cluster,
 * one connection per model, since one XREAD reads the keys of one slot only). While nobody waits
 * (no subscriber, no expected job still running) it stops reading, so an idle client is not woken
 * by every event of jobs others run; the next subscriber or expected job starts it again.
 */
export interface EventHub {
  /**
   * Starts reading a queue's event stream (once per queue) from its last entry as of now. A waiter
   * that watches, subscribes and only then reads its job's state misses no event, since every
   * change after that read is in the stream after the pinned entry.
   */
  watch(queue: string): Promise<void>;
  /** Whether a queue's stream is read already (its `watch` resolved): a wait needs no `watch`. */
  watching(queue: string): boolean;
  /** Calls `listener` with each event of the job until the returned function is called. */
  subscribe(jobId: string, listener: (event: QueueEvent) => void): () => void;
  /**
   * `subscribe` without the function to stop, for a listener that is a function or an object with
   * `onEvent` (a wait that is its own listener needs no closure): `unsubscribe` with the same
   * listener stops. With `endsOnly`, the listener is called with the job's end only (`completed`,
   * `failed`, `removed`): a wait for a result skips the job's other events before they are read
   * into fields.
   */
  listen(jobId: string, listener: Listener, endsOnly?: boolean): void;
  unsubscribe(jobId: string, listener: Listener): void;
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

/** An expected job's end that came before anyone waited for it, kept until `until`. */
interface KeptEnd {
  until: number;
  end: QueueEvent;
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
  /** Set while the reader pauses (nobody waits); resumes it once the streams are pinned again. */
  paused?: ((pinned: Promise<void>) => void) | undefined;
}

/** What the hub calls with a job's events: a function, or an object's `onEvent`. */
export type Listener = ((event: QueueEvent) => void) | { onEvent(event: QueueEvent): void };

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
  /**
   * Listeners by job id: the one listener itself (the usual case), or those of a job's many; those
   * of every event of a job, and those of its end only.
   */
  const subscribers = new Map<string, Listener | Listener[]>();
  const endListeners = new Map<string, Listener | Listener[]>();
  /** Queues whose `watch` resolved. */
  const readQueues = new Set<string>();
  let closed = false;

  /**
   * Expected jobs by id, oldest first: until when they are kept (ms since `epoch`: for a client
   * younger than 12 days, a small integer that V8 stores in the map as it is, where epoch ms took
   * a heap number), and with their end once it came and nobody took it. A client that waits at
   * once hands each end over, so most entries never hold more than a number.
   */
  const expected = new Map<string, number | KeptEnd>();
  const epoch = Date.now();
  /** Expected jobs whose end has not come yet. */
  let running = 0;
  const forgetExpired = (now: number) => {
    for (const [id, entry] of expected) {
      const pending = typeof entry === 'number';
      if ((pending ? entry : entry.until) > now && expected.size <= MAX_EXPECTED) break;
      if (pending) running -= 1;
      expected.delete(id);
    }
  };
  /** Listeners of either kind. */
  const listening = () => subscribers.size + endListeners.size;
  /** Whether anyone waits for an event: a subscriber, or an expected job still running. */
  const idle = () => listening() === 0 && running === 0;

  /**
   * Whether an entry may matter before it is made into fields: a job's end, or any event of a job
   * someone listens to every event of. Most entries (added, waiting, active) are neither; BullMQ
   * writes `event` and `jobId` first.
   */
  const wanted = (list: readonly string[]): boolean =>
    list[0] !== 'event' ||
    list[2] !== 'jobId' ||
    ENDS.has(list[1] as string) ||
    subscribers.has(list[3] as string);

  const call = (fn: Listener, entry: QueueEvent) => {
    try {
      if (typeof fn === 'function') fn(entry);
      else fn.onEvent(entry);
    } catch (err) {
      log.error({ err, jobId: entry.jobId }, 'job event listener threw');
    }
  };

  const callEach = (listeners: Listener | Listener[], entry: QueueEvent) => {
    if (Array.isArray(listeners)) for (const fn of [...listeners]) call(fn, entry);
    else call(listeners, entry);
  };

  /** Hands an entry to its job's subscribers; true when it ended a job someone waited for. */
  const dispatch = (fields: Record<string, string>): boolean => {
    const { event, jobId } = fields;
    if (event === undefined || jobId === undefined) return false;
    const entry: QueueEvent = { event, jobId, fields };
    const isEnd = ENDS.has(event);
    const listeners = subscribers.get(jobId);
    const ends = isEnd ? endListeners.get(jobId) : undefined;
    const until = expected.get(jobId);
    if (typeof until === 'number' && isEnd) {
      running -= 1;
      // An end someone waits for is handed over, not kept: kept ends of a client that enqueues
      // fast and waits at once filled the map up to MAX_EXPECTED, old-generation garbage that
      // every collection traced. A second wait on the job reads it instead.
      if (listeners || ends) expected.delete(jobId);
      else expected.set(jobId, { until, end: entry });
    }
    if (listeners) callEach(listeners, entry);
    if (ends) callEach(ends, entry);
    return isEnd && (listeners !== undefined || ends !== undefined);
  };

  /**
   * Pins each event stream of a paused reader at its last entry as of now, so its next read skips
   * what happened while nobody waited. The reads go on `main`, before the command of whoever
   * resumes the reader (an add, a read of the job's state), so every later event of that job
   * comes after the pin. A stream whose pin fails is read on from where it was.
   */
  const pin = (reader: Reader): Promise<void> =>
    Promise.all(
      [...reader.streams.keys()]
        .filter((key) => key !== reader.wakeKey)
        .map((key) =>
          main.xrevrange(key, '+', '-', 'COUNT', 1).then(
            ([last]) => void reader.streams.set(key, last?.[0] ?? '0-0'),
            () => undefined,
          ),
        ),
    ).then(() => undefined);

  /** Resumes the paused reader of a job's stream, if it is paused. */
  const resumeFor = (jobId: string) => {
    const reader = readers.get(cluster ? hashTagOf(eventsKey(queueOfJobId(jobId))) : '');
    const resume = reader?.paused;
    if (!reader || !resume) return;
    reader.paused = undefined;
    resume(pin(reader));
  };

  async function loop(reader: Reader, connection: RedisClient): Promise<void> {
    let failures = 0;
    while (!closed) {
      if (idle()) {
        // Resolved with the pins `resumeFor` sent: the read below starts once they answered.
        await new Promise<void>((resolve) => (reader.paused = resolve));
        if (closed) return;
      }
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
        let ended = 0;
        for (const [key, entries] of reply ?? []) {
          const last = entries[entries.length - 1];
          if (last) reader.streams.set(key, last[0]);
          if (key === reader.wakeKey) continue;
          for (const [, list] of entries) if (wanted(list) && dispatch(fieldsOf(list))) ended += 1;
        }
        // Waits that just ended unsubscribe once their result is decoded. When they may be the
        // last ones, let them first, so that the reader pauses now instead of being woken by the
        // next job's events.
        if (ended > 0 && ended >= listening() && running === 0)
          await new Promise((resolve) => setImmediate(resolve));
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

  function listen(jobId: string, fn: Listener, endsOnly = false): void {
    const byJob = endsOnly ? endListeners : subscribers;
    const listeners = byJob.get(jobId);
    if (!listeners) byJob.set(jobId, fn);
    else if (!Array.isArray(listeners)) {
      if (listeners !== fn) byJob.set(jobId, [listeners, fn]);
    } else if (!listeners.includes(fn)) listeners.push(fn);
    resumeFor(jobId);
  }

  function removeFrom(byJob: Map<string, Listener | Listener[]>, jobId: string, fn: Listener) {
    const listeners = byJob.get(jobId);
    if (listeners === fn) byJob.delete(jobId);
    else if (Array.isArray(listeners)) {
      const at = listeners.indexOf(fn);
      if (at >= 0) listeners.splice(at, 1);
      if (listeners.length === 0) byJob.delete(jobId);
    }
  }

  function unsubscribe(jobId: string, fn: Listener): void {
    removeFrom(endListeners, jobId, fn);
    removeFrom(subscribers, jobId, fn);
  }

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
          // A paused reader reads the new stream once it resumes: no read to end now.
          if (reader.paused) return;
          if (reader.reading) {
            await main.xadd(reader.wakeKey, 'MAXLEN', '1', '*', 'wake', '1');
            await main.pexpire(reader.wakeKey, 86_400_000);
          } else {
            reader.listener = openListener();
            reader.reading = loop(reader, reader.listener);
          }
        })();
        ready.then(
          () => void (closed || readQueues.add(queue)),
          () => watched.delete(queue),
        );
        watched.set(queue, ready);
      }
      return ready;
    },
    watching: (queue) => readQueues.has(queue),
    subscribe(jobId, fn) {
      listen(jobId, fn);
      return () => unsubscribe(jobId, fn);
    },
    listen,
    unsubscribe,
    expect(jobIds, ttlMs) {
      const now = Date.now() - epoch;
      forgetExpired(now);
      for (const id of jobIds) {
        if (typeof expected.get(id) !== 'number') running += 1;
        expected.set(id, now + ttlMs);
        resumeFor(id);
      }
    },
    take(jobId) {
      const kept = expected.get(jobId);
      if (kept === undefined) return undefined;
      if (typeof kept === 'number') return 'pending';
      expected.delete(jobId);
      return kept.end;
    },
    async close() {
      if (closed) return;
      closed = true;
      subscribers.clear();
      endListeners.clear();
      readQueues.clear();
      expected.clear();
      running = 0;
      for (const reader of readers.values()) reader.paused?.(Promise.resolve());
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
