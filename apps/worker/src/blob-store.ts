import { modelKey, perTurn, type RedisClient } from '@conveyor/shared';

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

/**
 * The BlobStore of keys under `prefix`, on `connection`. A worker starts the jobs of a finished
 * batch in one event-loop turn, and ends them in one: the stored inputs of a turn's jobs are read
 * with one MGET and deleted with one DEL (per cluster slot, of at most KEYS_PER_COMMAND keys; see
 * perTurn), instead of a command and its reply per job.
 */
export function createBlobStore(connection: RedisClient, prefix: string): BlobStore {
  const prefixes = new Map<string, string>();
  const blobPrefix = (model: string): string => {
    let known = prefixes.get(model);
    if (known === undefined) prefixes.set(model, (known = modelKey(prefix, model, 'blob')));
    return known;
  };
  /** One command per group of a turn's calls, each call the keys of one job. */
  const perJob = <T>(command: (keys: string[]) => Promise<T[]>) =>
    perTurn<readonly string[], T[]>({
      keyOf: (keys) => keys[0] ?? '',
      weightOf: (keys) => keys.length,
      maxWeight: KEYS_PER_COMMAND,
      async send(jobs) {
        const answers = await command(jobs.flat());
        let at = 0;
        return jobs.map((keys) => {
          const own = answers.slice(at, at + keys.length);
          at += keys.length;
          return own;
        });
      },
    });
  // One MGET, not a pipeline: ioredis builds a pipeline by copying every script BullMQ defined on
  // the connection onto it, which cost more than the read itself.
  const read = perJob(async (keys) =>
    (await connection.mgetBuffer(...keys)).map((value) => (Buffer.isBuffer(value) ? value : null)),
  );
  const remove = perJob(async (keys) => {
    await connection.del(...keys);
    return keys;
  });
  return {
    key: (model, jobId, input) => `${blobPrefix(model)}:${jobId}:${input}`,
    get: (keys) => (keys.length > 0 ? read(keys) : Promise.resolve([])),
    async del(keys) {
      if (keys.length > 0) await remove(keys);
    },
    async expire(keys, seconds) {
      const pipeline = connection.pipeline();
      for (const key of keys) pipeline.expire(key, seconds);
      await pipeline.exec();
    },
  };
}
