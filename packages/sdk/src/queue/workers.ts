import {
  WORKER_SILENT_MS,
  WorkerRecordSchema,
  msFromRedisTime,
  workerBeatsKey,
  workerRecordKey,
  type WorkerRecord,
  type RedisClient,
} from '@conveyor/shared';

/** The live workers' records and the Redis server's clock when they were read. */
export interface LiveWorkers {
  /** Epoch ms by the Redis server's clock. */
  now: number;
  /** Sorted by id. */
  workers: WorkerRecord[];
}

/**
 * Reads the worker registry: the workers that beat within WORKER_SILENT_MS by the Redis server's
 * clock (the one that stamped the beats) and whose record is there and valid. A record that is
 * not JSON or fails WorkerRecordSchema (another version's, written by hand) is skipped.
 */
export async function readLiveWorkers(redis: RedisClient, prefix: string): Promise<LiveWorkers> {
  const replies = await redis
    .pipeline()
    .zrange(workerBeatsKey(prefix), '0', '-1', 'WITHSCORES')
    .time()
    .exec();
  const [beatReply, timeReply] = replies ?? [];
  if (!beatReply || !timeReply) throw new Error('Redis gave no reply to ZRANGE and TIME');
  for (const [error] of [beatReply, timeReply]) if (error) throw error;
  const now = msFromRedisTime(timeReply[1]);
  const flat = beatReply[1] as string[];
  const live: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    if (now - Number(flat[i + 1]) <= WORKER_SILENT_MS) live.push(flat[i] ?? '');
  if (live.length === 0) return { now, workers: [] };
  const values = await redis.mget(...live.map((id) => workerRecordKey(prefix, id)));
  const workers: WorkerRecord[] = [];
  for (const value of values) {
    const record = parseRecord(value);
    if (record) workers.push(record);
  }
  workers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { now, workers };
}

function parseRecord(value: string | null): WorkerRecord | undefined {
  if (value === null) return undefined;
  try {
    const parsed = WorkerRecordSchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
