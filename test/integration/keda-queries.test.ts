/**
 * The PromQL of the shipped KEDA ScaledObjects (deploy/kubernetes/worker-iris.yaml), run by a real
 * Prometheus scraping a real producer: with jobs queued and no worker the backlog is +Inf, which
 * KEDA would read as 0, so the `unserved` trigger must say 1 and the `backlog` trigger a finite
 * number; once a worker serves the model both fall to 0. Each query returns one sample, as KEDA's
 * Prometheus scaler requires.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient } from '@conveyor/sdk';
import { loadConfig } from '@conveyor/shared';
import { runProducer, type ProducerRun } from '../../apps/producer/src/run-producer.js';
import { freePort } from '../../scripts/lib/redis-server.js';
import { at, loadManifests, nameOf, ofKind } from '../support/kubernetes.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { MODELS, memoryLogger, startInProcessWorker } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
const POLL = { timeout: 30_000, interval: 250 };

/** The query of each trigger of the iris ScaledObject, by trigger name. */
function triggerQueries(): Record<string, string> {
  const scaled = ofKind(loadManifests(), 'ScaledObject').find(
    (d) => nameOf(d) === 'conveyor-worker-iris',
  );
  const triggers = at<{ name: string; metadata: { query: string } }[]>(scaled, 'spec', 'triggers');
  return Object.fromEntries((triggers ?? []).map((t) => [t.name, t.metadata.query]));
}

describe('the KEDA triggers of a worker Deployment, in a real Prometheus', () => {
  const queries = triggerQueries();
  let producer: ProducerRun | undefined;
  let prometheus: PrometheusServer | undefined;
  let client: ConveyorClient | undefined;

  /** The one sample a query returns (KEDA refuses several), parsed as Go's ParseFloat does. */
  const single = async (expr: string) => {
    const result = (await prometheus!.query(expr)).data?.result ?? [];
    if (result.length !== 1) return `${result.length} samples`;
    const text = result[0]!.value[1];
    return /^[+-]?Inf$/.test(text) ? Number(text.replace('Inf', 'Infinity')) : Number(text);
  };

  beforeAll(async () => {
    // A worker announces iris and stops: the model stays accepted, as at zero replicas.
    const announcer = await startInProcessWorker(redisUrl, prefix, { MODELS: 'iris' });
    await announcer.close();
    const port = await freePort();
    producer = runProducer(
      loadConfig({
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: prefix,
        MODEL_REPOSITORY: MODELS,
        PRODUCER_HOST: '127.0.0.1',
        PRODUCER_PORT: String(port),
      }),
      memoryLogger('producer').logger,
    );
    await producer.started;
    client = await createClient({ redisUrl, prefix });
    prometheus = await startPrometheus({ jobs: { 'conveyor-producer': [`127.0.0.1:${port}`] } });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await client?.close();
    await producer?.stop();
    await dropPrefix(redisUrl, prefix);
  });

  it('ships a scaling and a waking trigger', () => {
    expect(Object.keys(queries).sort()).toEqual(['backlog', 'unserved']);
  });

  it('wakes the Deployment while jobs wait with no worker, with finite values only', async () => {
    const handles = await client!.enqueueMany(
      'iris',
      Array.from({ length: 3 }, () => ({ inputs: { features: [[5.9, 3, 5.1, 1.8]] } })),
    );
    // The premise: the raw backlog is +Inf, which KEDA's scaler turns into 0.
    await expect
      .poll(() => single('max(conveyor_queue_backlog_seconds{model="iris"})'), POLL)
      .toBe(Number.POSITIVE_INFINITY);
    expect(await single(queries.unserved!)).toBe(1);
    expect(await single(queries.backlog!)).toBe(0);

    const worker = await startInProcessWorker(redisUrl, prefix, { MODELS: 'iris' });
    try {
      await Promise.all(handles.map((h) => h.result({ timeoutMs: 30_000 })));
      await expect.poll(() => single(queries.unserved!), POLL).toBe(0);
      expect(await single(queries.backlog!)).toBe(0);
    } finally {
      await worker.close();
    }
  });
});
