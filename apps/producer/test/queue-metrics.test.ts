import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConveyorStatusSchema, type ConveyorStatus, type QueueStatus } from '@conveyor/shared';
import { createModelLabels } from '../src/metrics/model-labels.js';
import { registerQueueMetrics } from '../src/metrics/queue-metrics.js';
import { parseExposition, valueOf } from './prometheus-text.js';

const queue = (
  over: Partial<QueueStatus> & Pick<QueueStatus, 'model' | 'version'>,
): QueueStatus => ({
  counts: { waiting: 0, prioritized: 0, delayed: 0, active: 0, failed: 0, completed: 0 },
  oldestWaitingSeconds: null,
  workers: 1,
  serviceSecondsPerJob: null,
  backlogSeconds: 0,
  ...over,
});

/** A status as client.status() gives it, checked by its schema. */
const STATUS: ConveyorStatus = ConveyorStatusSchema.parse({
  at: 1_700_000_000_000,
  models: [],
  workers: [],
  failures: [],
  queues: [
    queue({
      model: 'iris',
      version: '1',
      counts: { waiting: 7, prioritized: 2, delayed: 1, active: 3, failed: 4, completed: 99 },
      oldestWaitingSeconds: 12.5,
      workers: 2,
      serviceSecondsPerJob: 0.5,
      backlogSeconds: 2.25,
    }),
    // Jobs wait and no worker serves it: the status says null, the gauge +Inf.
    queue({
      model: 'iris',
      version: '2',
      counts: { waiting: 5, prioritized: 0, delayed: 0, active: 0, failed: 0, completed: 0 },
      oldestWaitingSeconds: 30,
      workers: 0,
      backlogSeconds: null,
    }),
    // Workers serve it but none measured a service time yet: unknown, so no backlog sample.
    queue({
      model: 'echo',
      version: '1',
      counts: { waiting: 1, prioritized: 0, delayed: 0, active: 0, failed: 0, completed: 0 },
      oldestWaitingSeconds: 0.1,
      workers: 1,
      backlogSeconds: null,
    }),
  ],
});

function scraper(status: () => Promise<ConveyorStatus>, timeoutMs = 2000) {
  const registry = new Registry();
  registerQueueMetrics(registry, { status, timeoutMs });
  return async () => parseExposition(await registry.metrics());
}

describe('per-queue metrics from the status', () => {
  it('exports jobs by state, the oldest wait, workers and the backlog of each model version', async () => {
    const samples = await scraper(() => Promise.resolve(STATUS))();
    const iris1 = { model: 'iris', version: '1' };
    expect(
      ['waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed'].map((state) =>
        valueOf(samples, 'conveyor_queue_jobs', { ...iris1, state }),
      ),
    ).toEqual([7, 2, 1, 3, 4, undefined]);
    expect(valueOf(samples, 'conveyor_queue_oldest_waiting_seconds', iris1)).toBe(12.5);
    expect(valueOf(samples, 'conveyor_queue_workers', iris1)).toBe(2);
    expect(valueOf(samples, 'conveyor_queue_backlog_seconds', iris1)).toBe(2.25);
    expect(valueOf(samples, 'conveyor_status_up')).toBe(1);
  });

  it('exports +Inf backlog while jobs wait with no worker, and none while it is unknown', async () => {
    const registry = new Registry();
    registerQueueMetrics(registry, { status: () => Promise.resolve(STATUS) });
    const text = await registry.metrics();
    expect(text).toContain('conveyor_queue_backlog_seconds{model="iris",version="2"} +Inf');
    const samples = parseExposition(text);
    expect(valueOf(samples, 'conveyor_queue_workers', { model: 'iris', version: '2' })).toBe(0);
    expect(
      valueOf(samples, 'conveyor_queue_backlog_seconds', { model: 'echo', version: '1' }),
    ).toBeUndefined();
    expect(
      valueOf(samples, 'conveyor_queue_oldest_waiting_seconds', { model: 'echo', version: '1' }),
    ).toBe(0.1);
  });

  it('shares one status read among scrapes within its cache time', async () => {
    let reads = 0;
    const scrape = scraper(() => {
      reads += 1;
      return Promise.resolve(STATUS);
    });
    await Promise.all([scrape(), scrape(), scrape()]);
    await scrape();
    expect(reads).toBe(1);
  });

  it('drops the queue gauges and sets conveyor_status_up 0 when the read fails, without failing the scrape', async () => {
    let fail = true;
    const registry = new Registry();
    registerQueueMetrics(registry, {
      status: () => (fail ? Promise.reject(new Error('redis is away')) : Promise.resolve(STATUS)),
      cacheMs: 0,
    });
    const failed = parseExposition(await registry.metrics());
    expect(valueOf(failed, 'conveyor_status_up')).toBe(0);
    expect(failed.filter((s) => s.name.startsWith('conveyor_queue_'))).toEqual([]);

    fail = false;
    const recovered = parseExposition(await registry.metrics());
    expect(valueOf(recovered, 'conveyor_status_up')).toBe(1);
    expect(
      valueOf(recovered, 'conveyor_queue_jobs', { model: 'iris', version: '1', state: 'waiting' }),
    ).toBe(7);
  });

  it('answers a scrape whose status read never settles, with conveyor_status_up 0', async () => {
    const samples = await scraper(() => new Promise<ConveyorStatus>(() => undefined), 50)();
    expect(valueOf(samples, 'conveyor_status_up')).toBe(0);
    expect(samples.filter((s) => s.name.startsWith('conveyor_queue_'))).toEqual([]);
  });
});

describe('model labels', () => {
  it('labels catalogue models by name and every other name "other", reading the catalogue again for a new name', async () => {
    let names = ['iris'];
    let reads = 0;
    const labels = createModelLabels({
      list: () => {
        reads += 1;
        return Promise.resolve(names);
      },
      minRefreshMs: 0,
    });
    expect(labels.label(undefined)).toBe('');
    expect(await labels.label('iris')).toBe('iris');
    expect(await labels.label('no-such-model')).toBe('other');
    names = ['iris', 'echo'];
    expect(await labels.label('echo')).toBe('echo');
    expect(labels.label('iris')).toBe('iris');
    expect(reads).toBe(3);
  });

  it('reads the catalogue at most once per minRefreshMs for unknown names', async () => {
    let reads = 0;
    const labels = createModelLabels({
      list: () => {
        reads += 1;
        return Promise.resolve(['iris']);
      },
      minRefreshMs: 60_000,
    });
    const many = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => labels.label(`random-${i}`)),
    );
    expect(new Set(many)).toEqual(new Set(['other']));
    expect(labels.label('random-again')).toBe('other');
    expect(reads).toBe(1);
  });

  it('keeps the names it knows when a catalogue read fails', async () => {
    let fail = false;
    const labels = createModelLabels({
      list: () => (fail ? Promise.reject(new Error('redis is away')) : Promise.resolve(['iris'])),
      minRefreshMs: 0,
    });
    await labels.refresh();
    fail = true;
    expect(await labels.label('unknown')).toBe('other');
    expect(labels.label('iris')).toBe('iris');
  });
});
