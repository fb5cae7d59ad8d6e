import type { JobsOptions } from 'bullmq';
import { queuePrefix, resultChunks, type Config, type RedisClient } from '@conveyor/shared';

/**
 * Stores a job's large outputs once, raw, in the job's own hash (RESULT_FIELD and its chunks), so
 * they go when BullMQ removes the job, and keeps the queue's stored results under a byte budget:
 * each stored result is recorded by size and time, and past the budget the oldest are named for
 * removal. Entries of jobs BullMQ trimmed itself (by count or age) are dropped without removal.
 *
 * KEYS: 1 the job's hash, 2 the queue's results (sorted by time, member `size:jobId`), 3 their
 * total bytes. ARGV: 1 job id, 2 budget (0: none), 3 jobs kept, 4 seconds kept, 5 total bytes,
 * then the hash's field and value pairs (the outputs in chunks, see RESULT_CHUNK_BYTES).
 * Returns the ids of completed jobs to remove, oldest first; nil when the job no longer exists.
 */
const STORE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
local size = tonumber(ARGV[5])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local member = size .. ':' .. ARGV[1]
if redis.call('ZADD', KEYS[2], 'NX', ms, member) == 1 then redis.call('INCRBY', KEYS[3], size) end
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
local budget, keep = tonumber(ARGV[2]), tonumber(ARGV[3])
local oldestKept = ms - tonumber(ARGV[4]) * 1000
local victims = {}
while true do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if #first == 0 or first[1] == member then break end
  local over = budget > 0 and total > budget
  local trimmed = redis.call('ZCARD', KEYS[2]) > keep + 1 or tonumber(first[2]) < oldestKept
  if not over and not trimmed then break end
  redis.call('ZREM', KEYS[2], first[1])
  local sep = string.find(first[1], ':', 1, true)
  total = redis.call('DECRBY', KEYS[3], tonumber(string.sub(first[1], 1, sep - 1)))
  if not trimmed then table.insert(victims, string.sub(first[1], sep + 1)) end
end
return victims
`;

/** Where one version's worker stores results. */
export interface ResultStore {
  /** Outputs that total less stay inline in the return value (and so in the event). */
  readonly inlineMaxBytes: number;
  /** Larger outputs fail the job with ERR_RESULT_TOO_LARGE. */
  readonly maxBytes: number;
  /**
   * Writes the bytes into the job's hash while the worker holds the job; removes (in the
   * background) the oldest completed jobs past the budget. False when the job is gone.
   */
  store(jobId: string, bytes: Buffer, opts: JobsOptions): Promise<boolean>;
}

/** Outputs under 4 KiB travel inline: a second read would cost more than the copy. */
export const RESULT_INLINE_MAX_BYTES = 4096;

type StoreCommand = (
  job: string,
  results: string,
  total: string,
  jobId: string,
  budget: number,
  keep: number,
  ageSeconds: number,
  bytes: number,
  ...fieldsAndChunks: (string | Buffer)[]
) => Promise<string[] | null>;

/** The count and age BullMQ keeps completed jobs for, as the job (or else the worker) says. */
function retentionOf(opts: JobsOptions, config: Config): { count: number; ageSeconds: number } {
  const keep = opts.removeOnComplete;
  const count = config.KEEP_COMPLETED_JOBS;
  const ageSeconds = config.KEEP_COMPLETED_AGE_S;
  if (keep === true) return { count: 0, ageSeconds };
  if (typeof keep === 'number') return { count: keep, ageSeconds };
  if (typeof keep === 'object')
    return {
      count: keep.count ?? count,
      ageSeconds: 'age' in keep && keep.age !== undefined ? keep.age : 365 * 86_400,
    };
  return { count, ageSeconds };
}

/** The result store of one model version's queue; `remove` removes a completed job by id. */
export function createResultStore(options: {
  connection: RedisClient;
  config: Config;
  queue: string;
  remove: (jobIds: string[]) => Promise<void>;
}): ResultStore {
  const { connection, config, queue, remove } = options;
  const base = `${queuePrefix(config.REDIS_KEY_PREFIX, queue)}:${queue}`;
  if (!('conveyorStoreResult' in connection))
    connection.defineCommand('conveyorStoreResult', { numberOfKeys: 3, lua: STORE });
  const command = (connection as unknown as { conveyorStoreResult: StoreCommand })
    .conveyorStoreResult;
  return {
    inlineMaxBytes: RESULT_INLINE_MAX_BYTES,
    maxBytes: config.RESULT_MAX_BYTES,
    async store(jobId, bytes, opts) {
      const keep = retentionOf(opts, config);
      const victims = await command.call(
        connection,
        `${base}:${jobId}`,
        `${base}:cv-results`,
        `${base}:cv-result-bytes`,
        jobId,
        config.RESULT_BUDGET_BYTES,
        keep.count,
        keep.ageSeconds,
        bytes.byteLength,
        ...resultChunks(bytes).flat(),
      );
      if (victims === null) return false;
      if (victims.length > 0) void remove(victims);
      return true;
    },
  };
}
