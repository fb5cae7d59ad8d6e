import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type QueueClient } from '@conveyor/sdk';
import {
  closeRedis,
  configTarget,
  configTopology,
  createLogger,
  createRedisClient,
  loadConfig,
  settledWithin,
  waitForRedis,
  type Config,
} from '@conveyor/shared';
import { watchQueue } from '../../apps/cli/src/batch/queue-watch.js';
import { redisAnswers } from '../../apps/cli/src/redis-server.js';
import type { WorkerService } from '../../apps/worker/src/worker-service.js';
import { reportFailover } from '../support/failover-report.js';
import { uniquePrefix } from '../support/prefix.js';
import {
  SENTINEL_MASTER,
  startLocalSentinels,
  type LocalSentinels,
} from '../support/redis-sentinel.js';
import { startInProcessWorker } from '../support/workers.js';

/**
 * Conveyor on a Sentinel-managed Redis (a master, one replica, three sentinels: redis-server
 * processes on loopback): an SDK predict through a real worker, then the kill of the master and
 * the promotion of its replica.
 */
const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };
const prefix = uniquePrefix();

let setup: LocalSentinels;
let config: Config;
let worker: WorkerService;
let client: QueueClient;

beforeAll(async () => {
  setup = await startLocalSentinels();
  const env = {
    // Credentials and TLS only; the sentinels say where the master is.
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_SENTINELS: setup.sentinels.join(','),
    REDIS_SENTINEL_NAME: SENTINEL_MASTER,
    REDIS_KEY_PREFIX: prefix,
    MODELS: 'iris',
    LOG_LEVEL: 'silent',
  };
  config = loadConfig(env);
  worker = await startInProcessWorker(env.REDIS_URL, prefix, env);
  client = await createClient({
    redisUrl: `redis+sentinel://${setup.sentinels.join(',')}/${SENTINEL_MASTER}`,
    prefix,
    catalogueTtlMs: 0,
    logger: createLogger({ level: 'silent', component: 'sdk' }),
  });
}, 120_000);

afterAll(async () => {
  // Bounded: a close that waits on a Redis that is gone must not hold the run.
  await settledWithin(client?.close() ?? Promise.resolve(), 15_000);
  await settledWithin(worker?.close() ?? Promise.resolve(), 15_000);
  await setup?.stop();
}, 60_000);

describe('Conveyor on a Redis Sentinel group', () => {
  it('answers a predict through the SDK, served by a worker found through the sentinels', async () => {
    const prediction = await client.predict('iris', FLOWER);
    expect(prediction.model).toBe('iris');
    expect(prediction.outputs.probabilities?.shape).toEqual([1, 3]);
  });

  it('probes the master through the sentinels at start-up and from the CLI', async () => {
    await waitForRedis(
      config.REDIS_URL,
      createLogger({ level: 'silent', component: 'worker' }),
      'probe',
      undefined,
      configTopology(config),
    );
    expect(await redisAnswers(configTarget(config))).toBe(true);
    const watch = watchQueue(configTarget(config));
    try {
      await expect.poll(() => watch.check(), { timeout: 10_000 }).toBeUndefined();
    } finally {
      watch.close();
    }
  });

  it('leaves no subscription on the sentinels once a connection is closed', async () => {
    // ioredis subscribes to each sentinel's +switch-master for every Sentinel connection; up to
    // 6.0.0 a connection closed with QUIT (as closeRedis closes) left those subscriptions open.
    const before = await setup.subscribers();
    const connection = createRedisClient(configTarget(config));
    await expect.poll(() => setup.subscribers()).toBeGreaterThan(before);
    expect(await connection.ping()).toBe('PONG');
    expect(await closeRedis(connection, 5_000)).toBe(true);
    await expect.poll(() => setup.subscribers()).toBe(before);
  });

  it('keeps serving after the master is killed and its replica promoted', async () => {
    const victim = await setup.masterPort();
    // Jobs acknowledged (enqueued) just before the master dies: each is answered, or ends with a
    // code; none hangs. Asynchronous replication may lose the newest writes of the dead master.
    const handles = await Promise.all(
      Array.from({ length: 20 }, () => client.enqueue('iris', FLOWER)),
    );
    await setup.kill(victim);
    const promoted = await setup.waitPromoted(victim, 60_000);
    expect(promoted).not.toBe(victim);
    const { outcomes, afterModels } = await reportFailover(client, handles, {
      scenario: 'redis sentinel master kill',
      faults: 'kill -9 of the master right after 20 enqueues (replica promoted by 3 sentinels)',
      artifact: 'redis-sentinel-failover',
    });
    // After the failover every new job is answered, by the same client and worker (a call that
    // meets the client still reconnecting ends with ERR_QUEUE_UNAVAILABLE and is retried).
    expect(afterModels).toEqual(Array.from({ length: 10 }, () => 'iris'));
    expect(outcomes.every((o) => o === 'answered' || o.startsWith('ERR_'))).toBe(true);
  }, 180_000);
});
