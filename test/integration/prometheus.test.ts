/**
 * A real Prometheus (Debian's) scrapes a producer and two workers under a bounded load of iris
 * jobs, every second, with the shipped rules loaded: PromQL sees the jobs per model and version,
 * their latency histogram, every dashboard query and rule runs, and the backlog rises while the
 * workers are held and falls when they go on.
 */
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type ConveyorClient, type JobHandle } from '@conveyor/sdk';
import { loadConfig, queueName, queuePrefix } from '@conveyor/shared';
import { runProducer, type ProducerRun } from '../../apps/producer/src/run-producer.js';
import { runWorker, type WorkerRun } from '../../apps/worker/src/run-worker.js';
import { freePort } from '../../scripts/lib/redis-server.js';
import { dropPrefix, uniquePrefix } from '../support/prefix.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import {
  RULES_FILE,
  knownMetricNames,
  metricNamesIn,
  runnableDashboardQueries,
} from '../support/promql.js';
import { MODELS, memoryLogger } from '../support/workers.js';

const redisUrl = inject('redisUrl');
const prefix = uniquePrefix();
/** Jobs sent through the producer's HTTP API, then jobs enqueued while the workers are held. */
const JOBS = 120;
const HELD_JOBS = 40;
const CONCURRENCY = 8;
/** Bound of each wait for Prometheus to see something (it scrapes every second). */
const POLL = { timeout: 30_000, interval: 250 };

const env = (extra: Record<string, string>) =>
  loadConfig({
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    MODEL_REPOSITORY: MODELS,
    MODELS: 'iris',
    ...extra,
  });

const irisRow = (i: number) => [4 + (i % 40) / 10, 3, 1 + (i % 60) / 10, 1];

/** Sends `count` infer requests to the producer, `CONCURRENCY` at a time; returns their statuses. */
async function infer(port: number, count: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`http://127.0.0.1:${port}/v2/models/iris/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: irisRow(i) }],
        }),
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return statuses;
}

/** A vector as `labels=value` lines, sorted, for readable comparisons. */
const lines = (samples: { metric: Record<string, string>; value: number }[], keys: string[]) =>
  samples.map((s) => `${keys.map((k) => s.metric[k] ?? '').join(' ')}=${s.value}`).sort();

describe('a real Prometheus scraping a producer and two workers', () => {
  let workers: WorkerRun[] = [];
  let producer: ProducerRun | undefined;
  let prometheus: PrometheusServer | undefined;
  let client: ConveyorClient | undefined;
  let producerPort: number;

  beforeAll(async () => {
    const workerPorts = [await freePort(), await freePort()];
    workers = workerPorts.map((port) =>
      runWorker(
        env({
          WORKER_HTTP_PORT: String(port),
          WORKER_HTTP_HOST: '127.0.0.1',
          WORKER_NICE: '0',
          WORKER_CONCURRENCY: '4',
        }),
        memoryLogger().logger,
      ),
    );
    producerPort = await freePort();
    producer = runProducer(
      env({ PRODUCER_HOST: '127.0.0.1', PRODUCER_PORT: String(producerPort) }),
      memoryLogger('producer').logger,
    );
    await Promise.all([...workers.map((w) => w.started), producer.started]);
    client = await createClient({ redisUrl, prefix });
    prometheus = await startPrometheus({
      jobs: {
        'conveyor-producer': [`127.0.0.1:${producerPort}`],
        'conveyor-worker': workerPorts.map((port) => `127.0.0.1:${port}`),
      },
      ruleFiles: [RULES_FILE],
    });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await client?.close();
    await producer?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await dropPrefix(redisUrl, prefix);
  });

  it('scrapes the producer and both workers', async () => {
    await expect
      .poll(async () => lines(await prometheus!.vector('up'), ['job']), POLL)
      .toEqual(['conveyor-producer=1', 'conveyor-worker=1', 'conveyor-worker=1']);
  });

  it('counts the jobs completed per model and version, on the workers and the producer', async () => {
    expect(new Set(await infer(producerPort, JOBS))).toEqual(new Set([200]));
    const completed = 'sum by (model, version) (conveyor_jobs_total{outcome="completed"})';
    await expect
      .poll(async () => lines(await prometheus!.vector(completed), ['model', 'version']), POLL)
      .toEqual([`iris 1=${JOBS}`]);
    // Both workers took part, and nothing failed.
    const perWorker = await prometheus!.vector(
      'sum by (instance) (conveyor_jobs_total{outcome="completed"})',
    );
    expect(perWorker).toHaveLength(2);
    expect(await prometheus!.vector('conveyor_jobs_total{outcome!="completed"}')).toEqual([]);
    const requests =
      'sum by (model, status) (conveyor_http_requests_total{route="/v2/models/:name/infer"})';
    await expect
      .poll(async () => lines(await prometheus!.vector(requests), ['model', 'status']), POLL)
      .toEqual([`iris 200=${JOBS}`]);
  });

  it('has the jobs in the latency histograms, with a finite p99 above 0', async () => {
    for (const histogram of [
      'conveyor_job_end_to_end_seconds',
      'conveyor_job_queue_wait_seconds',
      'conveyor_job_inference_seconds',
    ]) {
      await expect
        .poll(async () => lines(await prometheus!.vector(`sum(${histogram}_count)`), []), POLL)
        .toEqual([`=${JOBS}`]);
      const [p99] = await prometheus!.vector(
        `histogram_quantile(0.99, sum by (le) (${histogram}_bucket{model="iris", version="1"}))`,
      );
      expect({ histogram, p99: p99!.value > 0 && Number.isFinite(p99!.value) }).toEqual({
        histogram,
        p99: true,
      });
    }
    const [rows] = await prometheus!.vector('sum(conveyor_batch_rows_sum)');
    expect(rows!.value).toBe(JOBS);
  });

  it('runs every dashboard query, and draws throughput and latency', async () => {
    for (const { panel, expr } of runnableDashboardQueries()) {
      const answer = await prometheus!.query(expr);
      expect({ panel, expr, status: answer.status, error: answer.error }).toEqual({
        panel,
        expr,
        status: 'success',
        error: undefined,
      });
    }
    const drawn = runnableDashboardQueries().filter(({ panel }) =>
      ['Throughput', 'End-to-end latency', 'Batch size', 'Requests by route and status'].includes(
        panel,
      ),
    );
    expect(drawn.length).toBeGreaterThanOrEqual(6);
    // A rate needs two scrapes of a series: the producer's may have just appeared.
    for (const { panel, expr } of drawn)
      await expect
        .poll(async () => ({ panel, samples: (await prometheus!.vector(expr)).length > 0 }), POLL)
        .toEqual({ panel, samples: true });
  });

  it('evaluates every shipped rule without error, on metrics Conveyor exports', async () => {
    const known = await knownMetricNames();
    await expect
      .poll(async () => (await prometheus!.rules()).filter((r) => r.health === 'unknown'), POLL)
      .toEqual([]);
    const rules = await prometheus!.rules();
    expect(rules.length).toBeGreaterThanOrEqual(15);
    for (const { name, health, lastError, query } of rules) {
      expect({ name, health, lastError }).toEqual({ name, health: 'ok', lastError: undefined });
      expect({ name, unknown: metricNamesIn(query).filter((n) => !known.has(n)) }).toEqual({
        name,
        unknown: [],
      });
    }
    // With no failure and workers serving, no alert is firing or pending.
    expect(await prometheus!.vector('ALERTS')).toEqual([]);
  });

  it('sees the backlog rise while the workers are held, and fall when they go on', async () => {
    const backlog = 'max by (model, version) (conveyor_queue_backlog_seconds{model="iris"})';
    await expect
      .poll(async () => lines(await prometheus!.vector(backlog), ['model', 'version']), POLL)
      .toEqual(['iris 1=0']);
    // BullMQ's pause holds every worker of the queue: they stay live, and take nothing.
    const queue = new Queue(queueName('iris', '1'), {
      connection: { url: redisUrl },
      prefix: queuePrefix(prefix, queueName('iris', '1')),
    });
    let handles: JobHandle[] = [];
    try {
      await queue.pause();
      handles = await client!.enqueueMany(
        'iris',
        Array.from({ length: HELD_JOBS }, (_, i) => ({ inputs: { features: [irisRow(i)] } })),
      );
      await expect
        .poll(async () => (await prometheus!.vector(backlog))[0]?.value ?? 0, POLL)
        .toBeGreaterThan(0);
      const [waiting] = await prometheus!.vector(
        'max by (model, version) (conveyor_queue_jobs{model="iris", state="waiting"})',
      );
      expect(waiting!.value).toBe(HELD_JOBS);
      const [workersSeen] = await prometheus!.vector(
        'max by (model, version) (conveyor_queue_workers{model="iris"})',
      );
      expect(workersSeen!.value).toBe(2);
    } finally {
      await queue.resume();
      await queue.close();
    }
    await Promise.all(handles.map((handle) => handle.result()));
    await expect
      .poll(async () => lines(await prometheus!.vector(backlog), ['model', 'version']), POLL)
      .toEqual(['iris 1=0']);
    await expect
      .poll(
        async () =>
          lines(await prometheus!.vector('sum(conveyor_jobs_total{outcome="completed"})'), []),
        POLL,
      )
      .toEqual([`=${JOBS + HELD_JOBS}`]);
  });
});
