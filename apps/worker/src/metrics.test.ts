import { describe, expect, it } from 'vitest';
import { createWorkerMetrics } from './metrics.js';

describe('the worker metrics', () => {
  it('counts completed, failed and retried attempts apart, with the code of failures', async () => {
    const metrics = createWorkerMetrics();
    const jobs = metrics.jobs('iris', '2');
    expect(metrics.jobs('iris', '2')).toBe(jobs);
    jobs.completed(0.001, 0.002, 0.0015);
    jobs.failed('ERR_QUEUE_UNAVAILABLE', true);
    jobs.failed('ERR_QUEUE_UNAVAILABLE', false);
    jobs.failed('ERR_INPUT_SHAPE', false);
    jobs.failed('ERR_INPUT_SHAPE', false);
    const { values } = (await metrics.registry.getSingleMetric('conveyor_jobs_total')!.get()) as {
      values: { labels: Record<string, string>; value: number }[];
    };
    expect(values.map((v) => [v.labels, v.value])).toEqual([
      [{ model: 'iris', version: '2', outcome: 'completed' }, 1],
      [{ model: 'iris', version: '2', outcome: 'retried', code: 'ERR_QUEUE_UNAVAILABLE' }, 1],
      [{ model: 'iris', version: '2', outcome: 'failed', code: 'ERR_QUEUE_UNAVAILABLE' }, 1],
      [{ model: 'iris', version: '2', outcome: 'failed', code: 'ERR_INPUT_SHAPE' }, 2],
    ]);
  });

  it('records each inference run as a batch size and busy time', async () => {
    const metrics = createWorkerMetrics();
    metrics.onRun({ model: 'ocr', version: '1', rows: 8, ms: 250 });
    metrics.onRun({ model: 'ocr', version: '1', rows: 3, ms: 50 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('conveyor_batch_rows_sum{model="ocr",version="1"} 11');
    expect(text).toContain('conveyor_batch_rows_count{model="ocr",version="1"} 2');
    expect(text).toContain('conveyor_batch_rows_bucket{le="4",model="ocr",version="1"} 1');
    expect(text).toContain('conveyor_inference_busy_seconds_total{model="ocr",version="1"} 0.3');
  });

  it('reports no version, and Redis as not up, while there is no service to read', async () => {
    const metrics = createWorkerMetrics();
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^conveyor_model_versions\{/m);
    expect(text).toMatch(/^conveyor_redis_up 0$/m);
    // prom-client's process metrics are there from the start.
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });
});
