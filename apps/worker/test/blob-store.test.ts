import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { blobKey, newJobId } from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { KEYS_PER_COMMAND, createBlobStore, perTurn } from '../src/blob-store.js';

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

  it('reads and deletes the inputs of a turn’s jobs in one command each, each job its own', async () => {
    const blobs = createBlobStore(redis, prefix);
    const jobs = Array.from({ length: 20 }, () => newJobId('text-direction', '1'));
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
    expect(commands.map(([name]) => name?.toLowerCase())).toEqual(['mget', 'del']);
    expect(await redis.exists(...keys)).toBe(0);
  });

  it('splits a turn of many keys into commands of KEYS_PER_COMMAND, and one slot each', async () => {
    const sent: string[][] = [];
    const read = perTurn((keys: string[]) => {
      sent.push(keys);
      return Promise.resolve(keys.map((key) => key.toUpperCase()));
    });
    const a = Array.from({ length: KEYS_PER_COMMAND + 5 }, (_, i) => `p:{a}:blob:${i}`);
    const b = ['p:{b}:blob:1', 'p:{b}:blob:2'];
    const answers = await Promise.all([...a, ...b].map((key) => read([key])));
    expect(answers.flat()).toEqual([...a, ...b].map((key) => key.toUpperCase()));
    expect(sent.map((keys) => keys.length)).toEqual([KEYS_PER_COMMAND, 5, 2]);
    // A call of the next turn is a command of its own.
    await read(['p:{a}:blob:late']);
    expect(sent.at(-1)).toEqual(['p:{a}:blob:late']);
  });

  it('fails only the calls whose command failed', async () => {
    const read = perTurn((keys: string[]) =>
      keys.some((key) => key.includes('{bad}'))
        ? Promise.reject(new Error('CROSSSLOT'))
        : Promise.resolve(keys.map(() => 1)),
    );
    const results = await Promise.allSettled([read(['p:{ok}:1']), read(['p:{bad}:1'])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
  });
});
