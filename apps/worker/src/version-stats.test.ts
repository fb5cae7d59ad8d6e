import { describe, expect, it } from 'vitest';
import { NO_JOB_METRICS, createWorkerMetrics } from './metrics.js';
import { LATENCY_WINDOW_MS, STATS_WINDOW_JOBS, VersionStats } from './version-stats.js';

/** A clock the test moves by hand, in ms. */
const manualClock = () => {
  const clock = { ms: 0, now: () => clock.ms };
  return clock;
};

describe('the version stats of the worker registry', () => {
  it('has no service time or latency before a job completed', () => {
    const stats = new VersionStats(NO_JOB_METRICS, 4);
    expect(stats.serviceSecondsPerJob()).toBeNull();
    expect(stats.latency()).toBeNull();
  });

  it('divides the mean slot time of the jobs by the concurrency', () => {
    const stats = new VersionStats(NO_JOB_METRICS, 4, manualClock().now);
    // Slots of 0.2, 0.4 and 0.6 s: mean 0.4 s; 4 slots complete 4 / 0.4 = 10 jobs/s when busy.
    for (const slot of [0.2, 0.4, 0.6]) stats.completed(0.1, 1, slot);
    expect(stats.serviceSecondsPerJob()).toBeCloseTo(0.1, 12);
  });

  it('keeps only the last STATS_WINDOW_JOBS jobs for the service time', () => {
    const stats = new VersionStats(NO_JOB_METRICS, 2, manualClock().now);
    for (let i = 0; i < STATS_WINDOW_JOBS; i++) stats.completed(0, 0, 10);
    for (let i = 0; i < STATS_WINDOW_JOBS; i++) stats.completed(0, 0, 1);
    expect(stats.serviceSecondsPerJob()).toBeCloseTo(0.5, 12);
    expect(stats.completedJobs).toBe(2 * STATS_WINDOW_JOBS);
  });

  it('gives nearest-rank percentiles of the end-to-end time over the last minute', () => {
    const clock = manualClock();
    const stats = new VersionStats(NO_JOB_METRICS, 1, clock.now);
    stats.completed(0, 1000, 1); // falls out of the window below
    clock.ms = 1;
    // 1..100 s in a shuffled order: p50 is the 50th smallest, p95 the 95th, p99 the 99th.
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    for (const seconds of values) stats.completed(0, seconds, 0);
    clock.ms = LATENCY_WINDOW_MS + 0.5;
    expect(stats.latency()).toEqual({ p50: 50, p95: 95, p99: 99 });
    clock.ms = 2 * LATENCY_WINDOW_MS;
    expect(stats.latency()).toBeNull();
  });

  it('counts final failures apart from retried ones, all of them by code', () => {
    const stats = new VersionStats(NO_JOB_METRICS, 1);
    stats.failed('ERR_QUEUE_UNAVAILABLE', true);
    stats.failed('ERR_QUEUE_UNAVAILABLE', false);
    stats.failed('ERR_INPUT_SHAPE', false);
    expect(stats.failedJobs).toBe(2);
    expect(Object.fromEntries(stats.failuresByCode)).toEqual({
      ERR_QUEUE_UNAVAILABLE: 2,
      ERR_INPUT_SHAPE: 1,
    });
  });

  it('passes every call on to the Prometheus recorders it wraps', async () => {
    const metrics = createWorkerMetrics();
    const stats = new VersionStats(metrics.jobs('iris', '1'), 1);
    stats.taken(0.01);
    stats.completed(0.001, 0.02, 0.002);
    stats.failed('ERR_INPUT_SHAPE', false);
    const text = await metrics.registry.metrics();
    expect(text).toContain('conveyor_job_queue_wait_seconds_count{model="iris",version="1"} 1');
    expect(text).toContain('conveyor_jobs_total{model="iris",version="1",outcome="completed"} 1');
    expect(text).toContain(
      'conveyor_jobs_total{model="iris",version="1",outcome="failed",code="ERR_INPUT_SHAPE"} 1',
    );
  });
});
