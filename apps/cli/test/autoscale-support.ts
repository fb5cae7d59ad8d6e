import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { queueName } from '@conveyor/shared';

/**
 * A handle of a model version's BullMQ queue, to pause, resume and drain it as an operator would.
 * Its BullMQ prefix is read from the queue's `meta` key (written when a worker opened the queue),
 * so the test follows the key naming of the workers, whatever it is.
 */
export async function openBullQueue(
  redisUrl: string,
  prefix: string,
  model: string,
  version: string,
): Promise<Queue> {
  const name = queueName(model, version);
  const redis = new Redis(redisUrl);
  try {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const [, keys] = await redis.scan('0', 'MATCH', `${prefix}:*${name}:meta`, 'COUNT', 10_000);
      const key = keys.find((k) => k.endsWith(`:${name}:meta`));
      if (key !== undefined)
        return new Queue(name, {
          connection: { url: redisUrl },
          prefix: key.slice(0, -`:${name}:meta`.length),
          skipMetasUpdate: true,
        });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no BullMQ queue ${name} under ${prefix}`);
  } finally {
    redis.disconnect();
  }
}
