import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createModelAdmin, type QueueClient } from '@conveyor/sdk';
import {
  aliasesKey,
  blobKey,
  configTarget,
  createTensor,
  createLogger,
  createRedisClient,
  hashTagOf,
  loadConfig,
  queueKey,
  queueName,
  type Config,
  type RedisClient,
} from '@conveyor/shared';
import { buildApp, type App } from '../../apps/producer/src/app.js';
import { clientOptionsFromConfig } from '../../apps/producer/src/client-options.js';
import type { WorkerService } from '../../apps/worker/src/worker-service.js';
import { textLine } from '../../scripts/lib/text-line.js';
import { reportFailover } from '../support/failover-report.js';
import { uniquePrefix } from '../support/prefix.js';
import { startLocalCluster, type LocalCluster } from '../support/redis-cluster.js';
import { MODELS, startInProcessWorker } from '../support/workers.js';

/**
 * The main paths against a real Redis Cluster (3 masters, 3 replicas, redis-server processes on
 * loopback), then the kill of the master that holds iris's queue.
 */
const FLOWER = { features: [[5.1, 3.5, 1.4, 0.2]] };
const prefix = uniquePrefix();

let cluster: LocalCluster;
let config: Config;
let worker: WorkerService;
let client: QueueClient;
let app: App;
let pinger: RedisClient;

beforeAll(async () => {
  cluster = await startLocalCluster(3);
  const env = {
    REDIS_URL: `redis://${cluster.seeds[0]}`,
    REDIS_CLUSTER_NODES: cluster.seeds.join(','),
    REDIS_KEY_PREFIX: prefix,
    MODEL_REPOSITORY: MODELS,
    MODELS: 'iris,text-direction',
    LOG_LEVEL: 'silent',
  };
  config = loadConfig(env);
  worker = await startInProcessWorker(env.REDIS_URL, prefix, env);
  const logger = createLogger({ level: 'silent', component: 'producer' });
  client = await createClient({ ...clientOptionsFromConfig(config, logger), catalogueTtlMs: 0 });
  pinger = createRedisClient(configTarget(config), { maxRetriesPerRequest: 1 });
  app = buildApp(config, {
    client,
    logger,
    redisPing: async () => (await pinger.ping()) === 'PONG',
  });
  await app.ready();
}, 120_000);

afterAll(async () => {
  await app?.close();
  await client?.close();
  await worker?.close();
  pinger?.disconnect();
  await cluster?.stop();
}, 60_000);

describe('Conveyor on a Redis Cluster', () => {
  it('answers a predict through the SDK', async () => {
    const prediction = await client.predict('iris', FLOWER);
    expect(prediction.model).toBe('iris');
    expect(prediction.outputs.probabilities?.shape).toEqual([1, 3]);
  });

  it('answers an HTTP infer through the producer', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: FLOWER.features[0] }],
      },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<{ model_name: string }>().model_name).toBe('iris');
  });

  it('runs an async job whose state and result are read by id', async () => {
    const handle = await client.enqueue('iris', FLOWER);
    const result = await handle.result();
    expect(result.outputs.probabilities?.shape).toEqual([1, 3]);
    expect((await client.job(handle.id).status()).state).toBe('completed');
  });

  it('routes through an alias set on the cluster', async () => {
    const admin = await createModelAdmin({ ...clientOptionsFromConfig(config, silent()) });
    try {
      await admin.setAlias('iris', 'stable', { '1': 100 });
      const prediction = await client.predict('iris', FLOWER, { version: 'stable' });
      expect(prediction.version).toBe('1');
      expect((await admin.history('iris'))[0]).toMatchObject({ alias: 'stable', action: 'set' });
    } finally {
      await admin.close();
    }
  });

  it("keeps each model's keys in one slot and two models on two slots", async () => {
    const iris = queueKey(prefix, queueName('iris', '1'), 'meta');
    const text = queueKey(prefix, queueName('text-direction', '1'), 'meta');
    const admin = cluster.admin(Number(cluster.seeds[0]?.split(':')[1]));
    const slot = (key: string) => admin.cluster('KEYSLOT', key);
    expect(await slot(iris)).toBe(await slot(queueKey(prefix, queueName('iris', '1'), 'wait')));
    expect(await slot(iris)).not.toBe(await slot(text));
    expect([hashTagOf(iris), hashTagOf(text), hashTagOf(aliasesKey(prefix))]).toEqual([
      'iris',
      'text-direction',
      '_meta',
    ]);
    // Both queues exist: the worker opened them on the cluster.
    expect([await pinger.exists(iris), await pinger.exists(text)]).toEqual([1, 1]);
  });

  it('reads and deletes the stored inputs of jobs that run together', async () => {
    // Large inputs go beside their job; the worker reads a turn's of them in one MGET, and deletes
    // them in one DEL, which a cluster takes only for keys of one slot.
    const image = () => createTensor('float32', [1, 3, 48, 192], textLine('CLUSTER'));
    const handles = await Promise.all(
      Array.from({ length: 12 }, () => client.enqueue('text-direction', { x: image() })),
    );
    const keys = handles.map((handle) => blobKey(prefix, handle.id, 'x'));
    const results = await Promise.all(handles.map((handle) => handle.result()));
    expect(results.map((r) => r.outputs['softmax_0.tmp_0']?.shape)).toEqual(
      handles.map(() => [1, 2]),
    );
    // Each job named its input as stored beside it (a worker may already have deleted the bytes
    // when the job was read back: checking the key right after enqueue raced with it).
    const stored = await Promise.all(
      handles.map(async (handle) => {
        const job = queueKey(prefix, queueName('text-direction', '1'), handle.id);
        const data = JSON.parse((await pinger.hget(job, 'data')) ?? '{}') as {
          inputs?: { x?: { blob?: boolean } };
        };
        return data.inputs?.x?.blob;
      }),
    );
    expect(stored).toEqual(handles.map(() => true));
    await expect
      .poll(() => Promise.all(keys.map((key) => pinger.exists(key))))
      .toEqual(keys.map(() => 0));
  });

  it('keeps serving after the master holding iris is killed and its replica promoted', async () => {
    const victim = await cluster.masterOf(queueKey(prefix, queueName('iris', '1'), 'wait'));
    const node = cluster.nodes.find((n) => n.port === victim);
    // Jobs acknowledged (enqueued) just before the master dies: each is answered, or ends with a
    // code; none hangs. Asynchronous replication may lose the newest writes of the dead master.
    const handles = await Promise.all(
      Array.from({ length: 20 }, () => client.enqueue('iris', FLOWER)),
    );
    node?.process.kill('SIGKILL');
    // The replica is promoted once the others agree its master is gone (cluster-node-timeout).
    const key = queueKey(prefix, queueName('iris', '1'), 'wait');
    await expect
      .poll(() => cluster.masterOf(key).catch(() => victim), { timeout: 60_000, interval: 250 })
      .not.toBe(victim);
    await cluster.waitHealthy(60_000);
    const { outcomes, afterModels } = await reportFailover(client, handles, {
      scenario: 'redis cluster master kill',
      faults: 'kill -9 the master of iris right after 20 enqueues (replica promoted)',
      artifact: 'redis-cluster-failover',
    });
    // After the failover every new job is answered, by the same client and worker (a call that
    // meets the client still reconnecting ends with ERR_QUEUE_UNAVAILABLE and is retried).
    expect(afterModels).toEqual(Array.from({ length: 10 }, () => 'iris'));
    expect(outcomes.every((o) => o === 'answered' || o.startsWith('ERR_'))).toBe(true);
  }, 180_000);
});

function silent() {
  return createLogger({ level: 'silent', component: 'sdk' });
}
