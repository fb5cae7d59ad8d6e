import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  catalogueField,
  catalogueKey,
  createLogger,
  queueName,
  queuePrefix,
} from '@conveyor/shared';
import { dropPrefix, uniquePrefix } from '../../../test/support/prefix.js';
import { createQueueDepth } from '../src/queue-depth.js';

const redisUrl = inject('redisUrl');
const logger = createLogger({ level: 'silent', component: 'producer' });

describe('queue depth', () => {
  const prefix = uniquePrefix();
  afterAll(() => dropPrefix(redisUrl, prefix));

  it('adds up every announced version, and answers calls that arrive while it connects', async () => {
    const redis = new Redis(redisUrl);
    const queues = ['1', '2'].map(
      (v) =>
        new Queue(queueName('iris', v), {
          connection: { url: redisUrl },
          prefix: queuePrefix(prefix, queueName('iris', v)),
        }),
    );
    const depth = createQueueDepth({ redisUrl, prefix, logger });
    try {
      await redis.hset(catalogueKey(prefix), {
        [catalogueField('iris', '1', 'w1')]: '{}',
        [catalogueField('iris', '2', 'w2')]: '{}',
      });
      await queues[0]!.addBulk([
        { name: 'predict', data: {} },
        { name: 'predict', data: {} },
      ]);
      await queues[1]!.add('predict', {}, { priority: 3 });
      // Eight first calls at once: the first connects, the others wait for that connection.
      const depths = await Promise.all(Array.from({ length: 8 }, () => depth.depth('iris')));
      expect(depths).toEqual(Array.from({ length: 8 }, () => 3));
    } finally {
      await depth.close();
      await Promise.all(queues.map((q) => q.close()));
      redis.disconnect();
    }
  });
});
