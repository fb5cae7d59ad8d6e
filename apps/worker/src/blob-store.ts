import { hashTagOf, modelKey, type RedisClient } from '@conveyor/shared';

/** Reads and removes the raw bytes of jobs' stored inputs (see BlobTensorSchema). */
export interface BlobStore {
  /**
   * The key of input `input` of job `jobId` of `model`: blobKey's, for a job id that names
   * `model` (as every id the SDK gives does), without parsing the id again for each key.
   */
  key(model: string, jobId: string, input: string): string;
  /** The bytes under each key, or null for a key that does not exist. */
  get(keys: readonly string[]): Promise<(Buffer | null)[]>;
  del(keys: readonly string[]): Promise<void>;
  /** Lets the keys expire in `seconds`. */
  expire(keys: readonly string[], seconds: number): Promise<void>;
}

/**
 * Keys sent in one command at most: a turn of an image model's worker starts (and ends) a batch of
 * up to its concurrency's jobs at once; OCR pages of a few MB each should not make one reply of
 * hundreds.
 */
export const KEYS_PER_COMMAND = 32;

interface Request<T> {
  keys: readonly string[];
  resolve: (values: T[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the calls of one event-loop turn and sends them once its I/O callbacks have run
 * (setImmediate): `send` gets the keys of one cluster slot (hash tag), at most KEYS_PER_COMMAND,
 * and answers one value per key. A worker starts the jobs of a finished batch in one turn, and
 * ends them in one: their stored inputs are then read with one MGET and deleted with one DEL,
 * instead of a command (and its reply) per job. Each call gets the values of its own keys, or the
 * error of a command that carried one of them.
 */
export function perTurn<T>(send: (keys: string[]) => Promise<T[]>) {
  let pending: Request<T>[] = [];

  const sendGroup = async (group: Request<T>[]) => {
    const keys = group.flatMap((request) => request.keys);
    try {
      const values = await send(keys);
      let at = 0;
      for (const request of group) {
        request.resolve(values.slice(at, at + request.keys.length));
        at += request.keys.length;
      }
    } catch (error) {
      for (const request of group) request.reject(error);
    }
  };

  const flush = () => {
    const requests = pending;
    pending = [];
    // Requests by hash tag, each group filled up to KEYS_PER_COMMAND keys (one request's keys are
    // never split: a job's inputs share its tag and are few).
    const groups = new Map<string, { requests: Request<T>[]; keys: number }[]>();
    for (const request of requests) {
      const tag = hashTagOf(request.keys[0] ?? '');
      const lists = groups.get(tag) ?? [];
      const last = lists.at(-1);
      if (last && last.keys + request.keys.length <= KEYS_PER_COMMAND) {
        last.requests.push(request);
        last.keys += request.keys.length;
      } else lists.push({ requests: [request], keys: request.keys.length });
      groups.set(tag, lists);
    }
    for (const lists of groups.values()) for (const group of lists) void sendGroup(group.requests);
  };

  return (keys: readonly string[]): Promise<T[]> => {
    if (keys.length === 0) return Promise.resolve([]);
    return new Promise<T[]>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ keys, resolve, reject });
    });
  };
}

/** The BlobStore of keys under `prefix`, on `connection`, batched per turn (see perTurn). */
export function createBlobStore(connection: RedisClient, prefix: string): BlobStore {
  const prefixes = new Map<string, string>();
  const blobPrefix = (model: string): string => {
    let known = prefixes.get(model);
    if (known === undefined) prefixes.set(model, (known = modelKey(prefix, model, 'blob')));
    return known;
  };
  // One MGET, not a pipeline: ioredis builds a pipeline by copying every script BullMQ defined on
  // the connection onto it, which cost more than the read itself.
  const read = perTurn(async (keys) => {
    const values = await connection.mgetBuffer(...keys);
    return values.map((value) => (Buffer.isBuffer(value) ? value : null));
  });
  const remove = perTurn(async (keys) => {
    await connection.del(...keys);
    return keys;
  });
  return {
    key: (model, jobId, input) => `${blobPrefix(model)}:${jobId}:${input}`,
    get: read,
    async del(keys) {
      await remove(keys);
    },
    async expire(keys, seconds) {
      const pipeline = connection.pipeline();
      for (const key of keys) pipeline.expire(key, seconds);
      await pipeline.exec();
    },
  };
}
