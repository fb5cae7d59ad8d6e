import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { toRows } from '@conveyor/shared';
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
    const fresh = await createClient({ redisUrl, prefix });
    try {
      await fresh.predict('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
      // The listener now blocks on iris's stream only; text-direction joins it through the wake stream.
      const { outputs } = await fresh.predict(
        'text-direction',
        { x: { data: new Float32Array(3 * 48 * 192), shape: [1, 3, 48, 192] } },
        { timeoutMs: 5000 },
      );
      expect(outputs['softmax_0.tmp_0']?.shape).toEqual([1, 2]);
    } finally {
      await fresh.close();
    }
    const keys = await admin.keys(`${prefix}:sdk-wake:*`);
    // The long-lived client still has its wake stream; the closed one removed its own.
    expect(keys).toHaveLength(1);
  });
});
