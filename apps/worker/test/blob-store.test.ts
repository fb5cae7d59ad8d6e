import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { blobKey, newJobId } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { KEYS_PER_COMMAND, createBlobStore } from '../src/blob-store.js';

const redisUrl = inject('redisUrl');

/** The commands Redis runs on `prefix`'s keys while `work` runs, as MONITOR reports them. */
async function commandsDuring(
  redis: Redis,
  prefix: string,
  work: () => Promise<void>,
): Promise<string[][]> {
  const monitor = await new Redis(redisUrl).monitor();
  const marker = `${prefix}:marker`;
  const seen: string[][] = [];
  let markerSeen: () => void = () => undefined;
  const marked = new Promise<void>((resolve) => (markerSeen = resolve));
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.includes(marker)) markerSeen();
    else if (args.some((arg) => arg.startsWith(`${prefix}:`))) seen.push(args);
  });
  try {
    await work();
    // MONITOR reports commands in the order Redis ran them: once it reports this one, it has
    // reported every command of `work`.
    await redis.exists(marker);
    await marked;
  } finally {
    monitor.disconnect();
  }
  return seen;
}

describe('the worker’s stored inputs', () => {
  const prefix = uniquePrefix();
  const redis = new Redis(redisUrl);

  afterAll(async () => {
    await dropPrefix(redisUrl, prefix);
    redis.disconnect();
  });

  it('names the keys the SDK writes', () => {
    const blobs = createBlobStore(redis, prefix);
    const jobId = newJobId('text-direction', '3');
    expect(blobs.key('text-direction', jobId, 'x')).toBe(blobKey(prefix, jobId, 'x'));
  });

  it('reads and deletes a turn’s inputs in commands of KEYS_PER_COMMAND keys, each job its own', async () => {
    const blobs = createBlobStore(redis, prefix);
    const jobs = Array.from({ length: KEYS_PER_COMMAND + 8 }, () =>
      newJobId('text-direction', '1'),
    );
    const keys = jobs.map((id) => blobs.key('text-direction', id, 'x'));
    await Promise.all(keys.map((key, i) => redis.set(key, Buffer.from([i, i + 1]))));
    // The third job's bytes are gone; only its read answers null.
    await redis.del(keys[2]!);
    let read: (Buffer | null)[][] = [];
    const commands = await commandsDuring(redis, prefix, async () => {
      read = await Promise.all(keys.map((key) => blobs.get([key])));
      await Promise.all(keys.map((key) => blobs.del([key])));
    });
    expect(read.map(([bytes]) => bytes && [...bytes])).toEqual(
      keys.map((_, i) => (i === 2 ? null : [i, i + 1])),
    );
    expect(commands.map(([name, ...keys]) => [name?.toLowerCase(), keys.length])).toEqual([
      ['mget', KEYS_PER_COMMAND],
      ['mget', 8],
      ['del', KEYS_PER_COMMAND],
      ['del', 8],
    ]);
    expect(await redis.exists(...keys)).toBe(0);
  });
});
