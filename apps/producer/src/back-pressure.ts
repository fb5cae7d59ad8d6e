import { ConveyorError } from '@conveyor/shared';

export interface BackPressureOptions {
  /** Reads how many jobs of a model's queue no worker has started yet. */
  depth: (model: string) => Promise<number>;
  /** Most jobs not yet started a queue may hold (MAX_QUEUE_DEPTH). */
  limit: number;
  /** Per-model limits that replace `limit` (QUEUE_DEPTH_BY_MODEL). */
  limits?: Readonly<Record<string, number>>;
  /** How long one depth read is reused for a model, in ms. Default 250. */
  ttlMs?: number;
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
   * ERR_QUEUE_UNAVAILABLE when Redis does not answer.
   */
  check(model: string, jobs?: number): Promise<void>;
}

interface Reading {
  at: number;
  depth: Promise<number>;
  /** Jobs accepted since this reading, which it does not count yet. */
  added: number;
}

/** Past this many models, readings older than the TTL are dropped, so odd names cannot pile up. */
const MAX_READINGS = 1024;

/**
 * Back-pressure on the model queues. One depth read per model serves every request for `ttlMs`,
 * so a burst costs Redis one read; jobs accepted meanwhile are added to it, so the burst itself
 * cannot overshoot the limit by much.
 */
export function createBackPressure(options: BackPressureOptions): BackPressure {
  const ttlMs = options.ttlMs ?? 250;
  const retryAfterS = options.retryAfterS ?? 1;
  const now = options.now ?? Date.now;
  const readings = new Map<string, Reading>();

  const reading = (model: string): Reading => {
    const at = now();
    const cached = readings.get(model);
    if (cached && at - cached.at < ttlMs) return cached;
    if (readings.size >= MAX_READINGS) {
      for (const [name, old] of readings) if (at - old.at >= ttlMs) readings.delete(name);
    }
    const fresh: Reading = { at, depth: options.depth(model), added: 0 };
    // A failed read is not reused: the next request asks Redis again.
    fresh.depth.catch(() => {
      if (readings.get(model) === fresh) readings.delete(model);
    });
    readings.set(model, fresh);
    return fresh;
  };

  return {
    async check(model, jobs = 1) {
      const limit = options.limits?.[model] ?? options.limit;
      const current = reading(model);
      const depth = (await current.depth) + current.added;
      if (depth + jobs > limit) {
        throw new ConveyorError(
          'ERR_QUEUE_FULL',
          `the queue of model "${model}" holds ${depth} jobs not yet started, and its limit is ${limit}; retry after ${retryAfterS} s`,
          { details: { model, depth, limit, jobs, retryAfterS } },
        );
      }
      current.added += jobs;
    },
  };
}
