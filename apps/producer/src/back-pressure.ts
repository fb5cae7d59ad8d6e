import { ConveyorError } from '@conveyor/shared';

export interface BackPressureOptions {
  /** Reads how many jobs of a model's queue no worker has started yet. */
  depth: (model: string) => Promise<number>;
  /** Most jobs not yet started a queue may hold (MAX_QUEUE_DEPTH). */
  limit: number;
  /** Per-model limits that replace `limit` (QUEUE_DEPTH_BY_MODEL). */
  limits?: Readonly<Record<string, number>>;
  /**
   * How often a model's depth is read again in the background while it takes work, in ms. Default
   * 200.
   */
  refreshMs?: number;
  /**
   * A reading older than this (its refreshes failing or slow) is not trusted: a request waits for
   * a fresh one instead, in ms. Default 10 × `refreshMs`.
   */
  maxAgeMs?: number;
  /** A model with no check for this long stops being refreshed, in ms. Default 30 000. */
  idleMs?: number;
  /** The `Retry-After` a refusal advises, in seconds. Default 1. */
  retryAfterS?: number;
  /** The clock, in epoch ms. Default Date.now. */
  now?: () => number;
}

/** Refuses new work for a model whose queue is full. */
export interface BackPressure {
  /**
   * Resolves when `jobs` more jobs fit in the model's queue, and counts them until the next depth
   * read; rejects with ERR_QUEUE_FULL (429, `details.retryAfterS`) when they do not, or
   * ERR_QUEUE_UNAVAILABLE when Redis does not answer a read the check has to wait for.
   */
  check(model: string, jobs?: number): Promise<void>;
  /**
   * `check` at once, from a fresh reading: true when the jobs fit (and are counted), ERR_QUEUE_FULL
   * thrown when they do not; false when there is no fresh reading (call `check`, which waits for
   * one).
   */
  checkNow(model: string, jobs?: number): boolean;
  /** Stops the background refreshes. */
  close(): void;
}

interface Reading {
  /** The last depth read; undefined until the first read answers. */
  depth: number | undefined;
  /** When the read that gave `depth` started, in epoch ms. */
  at: number;
  /** Jobs accepted here that `depth` may not count yet. */
  added: number;
  /** The read under way, if any. */
  pending: Promise<void> | undefined;
  lastCheck: number;
  timer: NodeJS.Timeout;
}

/**
 * Models refreshed at most; past this the least recently added is dropped, so odd names cannot pile
 * up.
 */
const MAX_READINGS = 1024;

/**
 * Back-pressure on the model queues. A request never waits for Redis while its model's reading is
 * fresh: each model in use is read again every `refreshMs` in the background, shared by all
 * requests, and the jobs this producer accepts meanwhile are added to the reading. So the limit
 * can be overshot only by jobs that others (other producers, SDK clients) add within one refresh
 * interval plus one read. Only the first check of a model (or one after a failed or stale read)
 * waits for a read.
 */
export function createBackPressure(options: BackPressureOptions): BackPressure {
  const refreshMs = options.refreshMs ?? 200;
  const maxAgeMs = options.maxAgeMs ?? 10 * refreshMs;
  const idleMs = options.idleMs ?? 30_000;
  const retryAfterS = options.retryAfterS ?? 1;
  const now = options.now ?? Date.now;
  const readings = new Map<string, Reading>();

  const drop = (model: string, reading: Reading) => {
    clearInterval(reading.timer);
    if (readings.get(model) === reading) readings.delete(model);
  };

  const read = (model: string, reading: Reading): Promise<void> => {
    if (reading.pending) return reading.pending;
    const startedAt = now();
    const addedBefore = reading.added;
    reading.pending = options.depth(model).then(
      (depth) => {
        // Jobs accepted while the read was under way may or may not be in it: keep counting them.
        reading.added -= addedBefore;
        reading.depth = depth;
        reading.at = startedAt;
        reading.pending = undefined;
      },
      (error: unknown) => {
        // A failed read is not reused: the next check reads again and waits for it.
        reading.pending = undefined;
        drop(model, reading);
        throw error;
      },
    );
    return reading.pending;
  };

  const readingOf = (model: string): Reading => {
    const existing = readings.get(model);
    if (existing) return existing;
    if (readings.size >= MAX_READINGS) {
      const [oldest, old] = readings.entries().next().value as [string, Reading];
      drop(oldest, old);
    }
    const reading: Reading = {
      depth: undefined,
      at: 0,
      added: 0,
      pending: undefined,
      lastCheck: now(),
      timer: setInterval(() => {
        if (now() - reading.lastCheck >= idleMs) drop(model, reading);
        else read(model, reading).catch(() => undefined);
      }, refreshMs),
    };
    reading.timer.unref();
    readings.set(model, reading);
    return reading;
  };

  /** Counts `jobs` on a reading, or throws ERR_QUEUE_FULL when they do not fit. */
  const admit = (model: string, reading: Reading, jobs: number) => {
    const limit = options.limits?.[model] ?? options.limit;
    const depth = (reading.depth ?? 0) + reading.added;
    if (depth + jobs > limit) {
      throw new ConveyorError(
        'ERR_QUEUE_FULL',
        `the queue of model "${model}" holds ${depth} jobs not yet started, and its limit is ${limit}; retry after ${retryAfterS} s`,
        { details: { model, depth, limit, jobs, retryAfterS } },
      );
    }
    reading.added += jobs;
  };

  /** The model's reading, marked as checked now. */
  const checked = (model: string) => {
    const reading = readingOf(model);
    reading.lastCheck = now();
    return reading;
  };

  /** Whether a request must wait for a read: none answered yet, or the last is too old. */
  const stale = (reading: Reading) => reading.depth === undefined || now() - reading.at > maxAgeMs;

  return {
    async check(model, jobs = 1) {
      const reading = checked(model);
      if (stale(reading)) await read(model, reading);
      admit(model, reading, jobs);
    },
    checkNow(model, jobs = 1) {
      const reading = checked(model);
      if (stale(reading)) return false;
      admit(model, reading, jobs);
      return true;
    },
    close() {
      for (const [model, reading] of readings) drop(model, reading);
    },
  };
}
