import { Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, isConveyorError, type ConveyorClient } from '@conveyor/sdk';
import { queueName, queuePrefix } from '@conveyor/shared';
import { startProducer, testConfig, type TestProducer } from '../../apps/producer/test/support.js';
import { copyCatalogue, dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startInProcessWorker } from '../support/workers.js';

/**
 * A job whose worker dies under it is handed out again once its lock expires; a job that stalls
 * more than once (BullMQ's maxStalledCount, 1, as Conveyor's workers leave it) is marked, and the
 * next worker that takes it fails it with BullMQ's uncoded reason instead of running it. Clients
 * must see that as ERR_JOB_STALLED, through the SDK and over HTTP.
 *
 * The dying worker is a BullMQ Worker that takes the job by hand (getNextJob: a lock that nobody
 * renews) and never finishes it, twice, as a worker killed twice in the middle of the job would.
 * Then a real Conveyor worker starts on the queue.
 */
const redisUrl = inject('redisUrl');

describe('a job whose worker dies under it twice', () => {
  const announced = uniquePrefix();
  const prefix = uniquePrefix();
  let client: ConveyorClient;
  let producer: TestProducer;
  let dying: Worker;
  let real: Awaited<ReturnType<typeof startInProcessWorker>> | undefined;

  beforeAll(async () => {
    // A real worker announces iris on another prefix; its signature is copied here, so clients
    // accept iris jobs while no worker that finishes them serves this prefix.
    const elsewhere = await startInProcessWorker(redisUrl, announced);
    try {
      await copyCatalogue(redisUrl, announced, prefix, ['iris@1']);
    } finally {
      await elsewhere.close();
    }
    client = await createClient({ redisUrl, prefix });
    producer = await startProducer(testConfig(redisUrl, prefix));
    dying = new Worker(queueName('iris', '1'), null, {
      connection: { url: redisUrl, maxRetriesPerRequest: null },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
      autorun: false,
      lockDuration: 400,
      stalledInterval: 200,
    });
    await dying.waitUntilReady();
  }, 60_000);

  afterAll(async () => {
    await dying?.close(true);
    await real?.close();
    await producer?.close();
    await client?.close();
    await dropPrefix(redisUrl, prefix);
    await dropPrefix(redisUrl, announced);
  });

  /** Takes the next waiting job with a lock that will not be renewed, as a worker about to die. */
  const takeAndDie = async (token: string): Promise<Job> => {
    for (;;) {
      const job = (await dying.getNextJob(token, { block: false })) as Job | undefined;
      if (job) return job;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('fails with ERR_JOB_STALLED for the SDK and over HTTP, naming the job', async () => {
    const handle = await client.enqueue('iris', { features: [[5.1, 3.5, 1.4, 0.2]] });
    const outcome = handle.result({ timeoutMs: 20_000 }).then(
      () => undefined,
      (error: unknown) => error,
    );

    const stalls: string[] = [];
    dying.on('stalled', (jobId) => stalls.push(jobId));
    const first = await takeAndDie('first-life');
    expect(first.id).toBe(handle.id);
    void dying.startStalledCheckTimer();
    // The first stall puts the job back on the queue; the second life ends the same way.
    const second = await takeAndDie('second-life');
    expect(second.id).toBe(handle.id);
    await expect.poll(() => stalls).toEqual([handle.id]);

    // The second stall marks the job; the real worker that takes it next fails it unrun.
    real = await startInProcessWorker(redisUrl, prefix);
    const error = await outcome;
    expect(isConveyorError(error) && error.code).toBe('ERR_JOB_STALLED');
    expect(isConveyorError(error) && error.details).toMatchObject({ jobId: handle.id });
    await expect(handle.status()).resolves.toMatchObject({ state: 'failed' });

    const response = await producer.app.inject({
      method: 'GET',
      url: `/v1/jobs/${handle.id}/result`,
    });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({
      code: 'ERR_JOB_STALLED',
      error: expect.stringContaining('job stalled more than allowable limit') as unknown,
    });
  });
});
