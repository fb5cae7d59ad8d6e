import { randomUUID } from 'node:crypto';
import { queueKey, silentLogger } from '@conveyor/shared';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createEventHub, type EventHub, type QueueEvent } from './events.js';

const redisUrl = inject('redisUrl');

describe('the event hub', () => {
  const prefix = `test-${randomUUID()}`;
  const queue = 'iris.1';
  const opened: Redis[] = [];
  let hub: EventHub | undefined;
  afterEach(async () => {
    await hub?.close();
    // The hub disconnects its listener itself; the first connection is the main one.
    const [main] = opened;
    const keys = (await main?.keys(`${prefix}:*`)) ?? [];
    if (keys.length > 0) await main?.del(...keys);
    for (const redis of opened.splice(0)) redis.disconnect();
  });
  const connect = () => {
    const redis = new Redis(redisUrl);
    opened.push(redis);
    return redis;
  };

  /** Appends a job's `completed` entry to the queue's stream, as BullMQ writes it. */
  const complete = (redis: Redis, jobId: string) =>
    redis.xadd(
      queueKey(prefix, queue, 'events'),
      '*',
      'event',
      'completed',
      'jobId',
      jobId,
      'returnvalue',
      '1',
    );

  it('keeps the end of an expected job nobody waits for, and hands over one somebody does', async () => {
    const main = connect();
    hub = createEventHub(main, connect, prefix, silentLogger());
    await hub.watch(queue);
    const [kept, handed] = [`${queue}.${randomUUID()}`, `${queue}.${randomUUID()}`];
    hub.expect([kept, handed], 60_000);
    const heard = new Promise<QueueEvent>((resolve) => hub?.listen(handed, resolve));
    await complete(main, kept);
    await complete(main, handed);
    expect((await heard).event).toBe('completed');

    // The end nobody listened for waits for a later result() ...
    await expect.poll(() => hub?.take(kept)).toMatchObject({ event: 'completed', jobId: kept });
    // ... the one a listener got is not kept too (a second wait reads the job instead).
    expect(hub.take(handed)).toBeUndefined();
  });

  it('forgets an expected job once its time to be kept has passed', async () => {
    hub = createEventHub(connect(), connect, prefix, silentLogger());
    const [brief, lasting, later] = [1, 2, 3].map(() => `${queue}.${randomUUID()}`) as [
      string,
      string,
      string,
    ];
    hub.expect([brief], 1);
    hub.expect([lasting], 60_000);
    expect([hub.take(brief), hub.take(lasting)]).toEqual(['pending', 'pending']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Expired entries go when the next jobs are expected; the one still within its time stays.
    hub.expect([later], 60_000);
    expect([hub.take(brief), hub.take(lasting), hub.take(later)]).toEqual([
      undefined,
      'pending',
      'pending',
    ]);
  });

  it('calls an ends-only listener with the end alone, and a subscriber with every event', async () => {
    const main = connect();
    hub = createEventHub(main, connect, prefix, silentLogger());
    await hub.watch(queue);
    const [job, other] = [`${queue}.${randomUUID()}`, `${queue}.${randomUUID()}`];
    const [ends, all]: [string[], string[]] = [[], []];
    const otherEnds: string[] = [];
    hub.listen(job, (entry) => ends.push(entry.event), true);
    hub.listen(other, (entry) => otherEnds.push(entry.event), true);
    const stop = hub.subscribe(job, (entry) => all.push(entry.event));
    const events = queueKey(prefix, queue, 'events');
    await main.xadd(events, '*', 'event', 'active', 'jobId', job, 'prev', 'waiting');
    await main.xadd(events, '*', 'event', 'progress', 'jobId', job, 'data', '50');
    await complete(main, job);
    await expect.poll(() => all).toEqual(['active', 'progress', 'completed']);
    expect(ends).toEqual(['completed']);
    expect(otherEnds).toEqual([]);
    stop();
    // Stopping a job's subscriber leaves its ends-only listener.
    const stopped: string[] = [];
    hub.subscribe(other, (entry) => stopped.push(entry.event))();
    await complete(main, other);
    await expect.poll(() => otherEnds).toEqual(['completed']);
    expect(stopped).toEqual([]);
  });
});
