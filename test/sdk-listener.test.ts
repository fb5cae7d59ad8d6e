import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { queueOfJobId, queuePrefix, toRows } from '@conveyor/shared';
import { irisReference } from '../scripts/lib/iris-weights.js';
import { dropPrefix, uniquePrefix } from './support/prefix.js';
import { spawnWorker, type WorkerProcess } from './support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const CALLS = 500;

/** Connection names of every client connected to Redis now. */
async function connectionNames(redis: Redis): Promise<string[]> {
  const list = (await redis.client('LIST')) as string;
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name !== '');
}

/** A CLIENT LIST line's connection id: the rest of the line (age, idle, cmd) changes. */
const connectionId = (line: string) => /(?:^| )id=(\d+)/.exec(line)?.[1] ?? line;

describe('waiting for many jobs', () => {
  let worker: WorkerProcess;
  let client: ConveyorClient;
  let admin: Redis;

  beforeAll(async () => {
    worker = await spawnWorker(redisUrl, prefix);
    client = await createClient({ redisUrl, prefix, timeoutMs: 40_000 });
    admin = new Redis(redisUrl);
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await worker?.stop();
    admin?.disconnect();
    await dropPrefix(redisUrl, prefix);
  });

  it(`shares one listener connection among ${CALLS} concurrent predicts on two models`, async () => {
    const line = { x: { data: new Float32Array(3 * 48 * 192).fill(0.5), shape: [1, 3, 48, 192] } };
    const row = (i: number) => [4 + (i % 7) * 0.5, 3, 1 + (i % 5), 0.2 + (i % 3)];
    const calls = Array.from({ length: CALLS }, (_, i) =>
      i % 2 === 0
        ? client.predict('iris', { features: [row(i)] })
        : client.predict('text-direction', line),
    );
    // Sampled while most waits are still pending: after the first one settles.
    await Promise.race(calls);
    const during = await connectionNames(admin);
    const results = await Promise.all(calls);
    const after = await connectionNames(admin);

    for (const names of [during, after]) {
      expect(names.filter((n) => n === `conveyor-sdk-events.${prefix}`)).toHaveLength(1);
      // Commands, the event listener, and the subscription to model changes (aliases).
      expect(
        names.filter((n) => n.startsWith('conveyor-sdk') && n.endsWith(`.${prefix}`)),
      ).toHaveLength(3);
    }
    results.forEach((result, i) => {
      if (i % 2 === 0) {
        const expected = irisReference([row(i)])[0]!;
        toRows(result.outputs.probabilities!)[0]!.forEach((p, c) =>
          expect(p).toBeCloseTo(expected[c]!, 6),
        );
      } else {
        expect(result.outputs['softmax_0.tmp_0']?.shape).toEqual([1, 2]);
      }
    });
  }, 120_000);

  it('reads a model used for the first time while the listener is blocked on others', async () => {
    const wakeKeys = () => admin.keys(`${prefix}:sdk-wake:*`);
    const before = await wakeKeys();
    const fresh = await createClient({ redisUrl, prefix });
    const { jobId } = await fresh.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
    // A job delayed for a minute keeps the listener blocked on iris's stream.
    const delayedId = jobId.replace(/[^.]+$/, randomUUID());
    const name = queueOfJobId(delayedId);
    const queue = new Queue(name, { connection: admin, prefix: queuePrefix(prefix, name) });
    await queue.add('predict', {}, { jobId: delayedId, delay: 60_000 });
    const events = fresh.job(delayedId).events();
    try {
      expect((await events.next()).value).toEqual({ type: 'state', state: 'delayed' });
      // text-direction joins the blocked read through the wake stream.
      const { outputs } = await fresh.predict(
        'text-direction',
        { x: { data: new Float32Array(3 * 48 * 192), shape: [1, 3, 48, 192] } },
        { timeoutMs: 5000 },
      );
      expect(outputs['softmax_0.tmp_0']?.shape).toEqual([1, 2]);
      expect(await wakeKeys()).toHaveLength(before.length + 1);
    } finally {
      await events.return?.();
      await queue.remove(delayedId);
      await queue.close();
      await fresh.close();
    }
    // The closed client removed its own wake stream.
    expect((await wakeKeys()).sort()).toEqual(before.sort());
  });

  it('stops reading events while nobody waits, and reads again for its next wait', async () => {
    const listeners = async () =>
      ((await admin.client('LIST')) as string)
        .split('\n')
        .filter((line) => line.includes(` name=conveyor-sdk-events.${prefix} `));
    const others = new Set((await listeners()).map(connectionId));
    const idle = await createClient({ redisUrl, prefix });
    const features = { features: [[5.1, 3.5, 1.4, 0.2]] };
    try {
      await idle.predict('iris', features);
      const flags = async () => {
        const own = (await listeners()).filter((line) => !others.has(connectionId(line)));
        return own.map((line) => /(?:^| )flags=(\S*)/.exec(line)?.[1]);
      };
      // Its wait over, its listener is not blocked on a read (flag b)...
      await expect.poll(flags).toEqual([expect.not.stringContaining('b')]);
      // ...nor woken into a new one by the jobs of another client.
      for (let i = 0; i < 5; i++) await client.predict('iris', features);
      expect(await flags()).toEqual([expect.not.stringContaining('b')]);
      const { outputs } = await idle.predict('iris', features, { timeoutMs: 5000 });
      expect(outputs.probabilities?.shape).toEqual([1, 3]);
    } finally {
      await idle.close();
    }
  });

  it('with keepJobEnds false, enqueue starts no listener and a later result reads the job', async () => {
    const listeners = async () =>
      ((await admin.client('LIST')) as string)
        .split('\n')
        .filter((line) => line.includes(` name=conveyor-sdk-events.${prefix} `));
    const others = new Set((await listeners()).map(connectionId));
    const handing = await createClient({ redisUrl, prefix, keepJobEnds: false });
    const features = { features: [[5.1, 3.5, 1.4, 0.2]] };
    try {
      const jobs = await Promise.all(
        Array.from({ length: 20 }, () => handing.enqueue('iris', features)),
      );
      // The jobs finish (read from BullMQ here) with nothing waiting for them: no listener
      // connection of this client has been reading the event streams meanwhile.
      const queue = new Queue(queueOfJobId(jobs[0]!.id), {
        connection: admin,
        prefix: queuePrefix(prefix, queueOfJobId(jobs[0]!.id)),
      });
      const states = () => Promise.all(jobs.map((job) => queue.getJobState(job.id)));
      await expect.poll(states, { timeout: 20_000 }).toEqual(jobs.map(() => 'completed'));
      await queue.close();
      const own = async () => (await listeners()).filter((line) => !others.has(connectionId(line)));
      expect(await own()).toEqual([]);
      // Its jobs finish all the same, and their results are read from the jobs.
      const results = await Promise.all(jobs.map((job) => job.result()));
      expect(results.map((r) => r.outputs.probabilities?.shape)).toEqual(jobs.map(() => [1, 3]));
    } finally {
      await handing.close();
    }
  });
});
