import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ConveyorClient, type JobHandle } from '@conveyor/sdk';
import { isConveyorError, queueName, queuePrefix } from '@conveyor/shared';
import { uniquePrefix } from '../support/prefix.js';
import { spawnWorker, type WorkerProcess } from '../support/workers.js';
import { recordScenario } from './summary.js';
import {
  eventsByJob,
  retrying,
  startPersistentRedis,
  startProducer,
  type AppProcess,
  type Fsync,
  type PersistentRedis,
} from './support.js';

const MODEL = 'iris';
const KEYS = 300;
/** Enqueues in flight at once in the client's stream. */
const STREAM_CONCURRENCY = 4;
/** The fault comes after this many acknowledged enqueues; Redis stays down this long. */
const FAULT_AFTER_ACKS = 100;
const DOWNTIME_MS = 1000;
const INPUT = { features: [[5.1, 3.5, 1.4, 0.2]] };
const JOB_BODY = JSON.stringify({ inputs: { features: [[5.1, 3.5, 1.4, 0.2]] } });

type Fault = 'SHUTDOWN' | 'kill -9';

interface KeyState {
  handle?: JobHandle;
  /** Acknowledged (enqueue resolved) before the fault was injected. */
  ackedBeforeFault: boolean;
  failures: number;
}

describe.each<Fsync>(['always', 'everysec'])('Redis restarted under appendfsync %s', (fsync) => {
  const prefix = uniquePrefix();
  let redis: PersistentRedis;
  let worker: WorkerProcess;
  let producer: AppProcess & { base: string };
  let client: ConveyorClient;
  let queue: Queue;

  beforeAll(async () => {
    redis = await startPersistentRedis(fsync);
    [worker, producer] = await Promise.all([
      // Jobs in flight when Redis dies can lose their lock; a short lock brings them back soon.
      spawnWorker(redis.url, prefix, { JOB_LOCK_MS: '4000', STALLED_INTERVAL_MS: '1000' }),
      startProducer(redis.url, prefix),
    ]);
    client = await createClient({ redisUrl: redis.url, prefix });
    queue = new Queue(queueName(MODEL, '1'), {
      connection: { url: redis.url },
      prefix: queuePrefix(prefix, queueName(MODEL, '1')),
      skipMetasUpdate: true,
    });
    queue.on('error', () => undefined);
  });

  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await producer?.stop('SIGKILL');
    await queue?.close();
    await client?.close();
    await redis?.stop();
  });

  it.each<Fault>(['SHUTDOWN', 'kill -9'])(
    'after %s, every key ends completed exactly once once the client re-submits what was not acknowledged',
    async (fault) => {
      const tag = fault === 'SHUTDOWN' ? 'shutdown' : 'kill';
      const keys = Array.from({ length: KEYS }, (_, i) => `${fsync}-${tag}-${i}`);
      const state = new Map<string, KeyState>(
        keys.map((k) => [k, { ackedBeforeFault: false, failures: 0 }]),
      );
      let faultAt: 'before' | 'during' | 'after' = 'before';
      let acks = 0;
      const failureCodes = new Set<string>();

      const enqueue = async (key: string): Promise<void> => {
        const entry = state.get(key);
        if (!entry) return;
        const phase = faultAt;
        try {
          entry.handle = await client.enqueue(MODEL, INPUT, { idempotencyKey: key });
          if (phase === 'before' && faultAt === 'before') entry.ackedBeforeFault = true;
          acks += 1;
        } catch (error) {
          entry.failures += 1;
          failureCodes.add(isConveyorError(error) ? error.code : String(error));
        }
      };

      // The client's stream of enqueues, with the fault injected part way.
      let next = 0;
      const stream = Promise.all(
        Array.from({ length: STREAM_CONCURRENCY }, async () => {
          while (next < keys.length) {
            const key = keys[next++];
            if (key !== undefined) await enqueue(key);
            // Keep the stream going through the fault at a pace that spans it.
            if (faultAt !== 'before') await sleep(5);
          }
        }),
      );
      while (acks < FAULT_AFTER_ACKS) {
        if (next >= keys.length)
          throw new Error(`only ${acks} enqueues acknowledged before the fault`);
        await sleep(5);
      }
      faultAt = 'during';
      if (fault === 'SHUTDOWN') await redis.shutdown();
      else await redis.crash();

      // While Redis is down the producer answers 503 ERR_QUEUE_UNAVAILABLE: a retry, not a crash.
      const down = await fetch(`${producer.base}/v1/models/${MODEL}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JOB_BODY,
      });
      expect(down.status).toBe(503);
      expect(((await down.json()) as { code: string }).code).toBe('ERR_QUEUE_UNAVAILABLE');
      await sleep(DOWNTIME_MS);
      await redis.restart();
      faultAt = 'after';
      await stream;

      // Jobs acknowledged before the fault must still be there.
      const acked = keys.filter((k) => state.get(k)?.ackedBeforeFault);
      const missing: string[] = [];
      for (const key of acked) {
        const handle = state.get(key)?.handle;
        if (!handle || (await retrying(() => handle.status())).state === 'unknown')
          missing.push(key);
      }

      // The client re-submits by key what it saw fail and what went missing.
      const resubmit = keys.filter((k) => !state.get(k)?.handle || missing.includes(k));
      for (const key of resubmit) {
        for (let attempt = 0; attempt < 20; attempt++) {
          await enqueue(key);
          if (state.get(key)?.failures === 0 || state.get(key)?.handle) break;
          await sleep(250);
        }
      }
      const handles = keys.map((k) => state.get(k)?.handle);
      expect(handles.every(Boolean)).toBe(true);
      const results = await Promise.all(
        handles.map((h) => (h as JobHandle).result({ timeoutMs: 60_000 })),
      );
      expect(new Set(results.map((r) => r.jobId)).size).toBe(KEYS);
      for (const r of results) expect(r.outputs.probabilities?.shape).toEqual([1, 3]);

      // One job per key, each completed once; a job started twice counts as duplicated.
      const events = await eventsByJob(redis.url, prefix, MODEL);
      let duplicated = 0;
      for (const handle of handles) {
        const job = await queue.getJob((handle as JobHandle).id);
        expect(await job?.getState()).toBe('completed');
        const seen = events.get((handle as JobHandle).id);
        const completions = seen?.completed ?? 0;
        // A kill -9 may drop the last writes of the event stream too, so only more than one counts.
        expect(completions).toBeLessThanOrEqual(1);
        if ((job?.attemptsStarted ?? 0) > 1 || (seen?.active ?? 0) > 1) duplicated += 1;
      }

      // Under appendfsync always nothing acknowledged is lost, whatever the fault; a SHUTDOWN
      // fsyncs the append-only file before exiting under either policy.
      if (fsync === 'always' || fault === 'SHUTDOWN') expect(missing).toEqual([]);
      expect(
        // A repeat of a key whose first enqueue failed with Redis may find its record younger
        // than the acceptance window: 409 ERR_IDEMPOTENCY_IN_PROGRESS, retried like a 503.
        [...failureCodes].every(
          (c) => c === 'ERR_QUEUE_UNAVAILABLE' || c === 'ERR_IDEMPOTENCY_IN_PROGRESS',
        ),
      ).toBe(true);

      // The producer reconnected by itself and takes jobs again.
      const up = await fetch(`${producer.base}/v1/models/${MODEL}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JOB_BODY,
      });
      expect(up.status).toBe(202);
      expect(worker.child.exitCode).toBeNull();
      expect(producer.child.exitCode).toBeNull();

      const failedEnqueues = keys.filter((k) => (state.get(k)?.failures ?? 0) > 0).length;
      recordScenario({
        scenario: `redis ${fault}, appendfsync ${fsync}`,
        faults: `${fault} of Redis for ${DOWNTIME_MS} ms after ${FAULT_AFTER_ACKS} acks`,
        submitted: KEYS,
        completed: results.length,
        lost: missing.length,
        duplicated,
        note: `${acked.length} acked before the fault; ${failedEnqueues} enqueues failed (ERR_QUEUE_UNAVAILABLE) and were re-submitted by key`,
      });
    },
  );
});
