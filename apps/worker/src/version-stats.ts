import type { LatencySummary } from '@conveyor/shared';
import type { JobMetrics } from './metrics.js';

/** Completed jobs kept for serviceSecondsPerJob and the latency percentiles (a ring). */
export const STATS_WINDOW_JOBS = 512;
/** Only jobs completed this recently count in the latency percentiles. */
export const LATENCY_WINDOW_MS = 60_000;

/**
 * What the worker registry tells of one version's jobs, counted by the same recorder calls as the
 * Prometheus metrics (it wraps them): counts since the worker started, and the last
 * STATS_WINDOW_JOBS completed jobs in typed-array rings, so recording a job allocates nothing.
 */
export class VersionStats implements JobMetrics {
  completedJobs = 0;
  /** Final failures (retried attempts are not counted here, only by code). */
  failedJobs = 0;
  /** Failed attempts (retried ones too) by error code. */
  readonly failuresByCode = new Map<string, number>();
  private readonly slots = new Float64Array(STATS_WINDOW_JOBS);
  private readonly endToEnd = new Float64Array(STATS_WINDOW_JOBS);
  private readonly finishedAt = new Float64Array(STATS_WINDOW_JOBS);
  private next = 0;
  private filled = 0;

  /**
   * @param inner the Prometheus recorders of the version (or NO_JOB_METRICS)
   * @param concurrency jobs the version's BullMQ worker runs at once
   * @param now the clock of `finishedAt`, in ms (performance.now by default)
   */
  constructor(
    private readonly inner: JobMetrics,
    public concurrency: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  taken(seconds: number): void {
    this.inner.taken(seconds);
  }

  completed(inferenceSeconds: number, endToEndSeconds: number, slotSeconds: number): void {
    this.inner.completed(inferenceSeconds, endToEndSeconds, slotSeconds);
    this.completedJobs += 1;
    const at = this.next;
    this.slots[at] = slotSeconds;
    this.endToEnd[at] = endToEndSeconds;
    this.finishedAt[at] = this.now();
    this.next = (at + 1) % STATS_WINDOW_JOBS;
    if (this.filled < STATS_WINDOW_JOBS) this.filled += 1;
  }

  failed(code: string, retried: boolean): void {
    this.inner.failed(code, retried);
    this.failuresByCode.set(code, (this.failuresByCode.get(code) ?? 0) + 1);
    if (!retried) this.failedJobs += 1;
  }

  /**
   * Seconds of this worker's capacity one job of the version takes: the mean time a job held one
   * of the `concurrency` slots (processor start to result ready), over the last STATS_WINDOW_JOBS
   * completed jobs, divided by `concurrency`. By Little's law a worker whose slots are all busy
   * (which they are whenever jobs wait for it) completes `concurrency / meanSlotSeconds` jobs per
   * second, so this is exactly 1 / that rate when jobs wait; measured on an idle worker, where a
   * job has the worker to itself, it is an underestimate. Null before any job completed.
   */
  serviceSecondsPerJob(): number | null {
    if (this.filled === 0) return null;
    let sum = 0;
    for (let i = 0; i < this.filled; i++) sum += this.slots[i]!;
    return sum / this.filled / Math.max(1, this.concurrency);
  }

  /** p50, p95 and p99 (nearest rank) of the end-to-end time of jobs completed in LATENCY_WINDOW_MS. */
  latency(): LatencySummary | null {
    const since = this.now() - LATENCY_WINDOW_MS;
    const recent: number[] = [];
    for (let i = 0; i < this.filled; i++)
      if (this.finishedAt[i]! >= since) recent.push(this.endToEnd[i]!);
    if (recent.length === 0) return null;
    recent.sort((a, b) => a - b);
    const rank = (q: number) => recent[Math.max(0, Math.ceil(q * recent.length) - 1)]!;
    return { p50: rank(0.5), p95: rank(0.95), p99: rank(0.99) };
  }
}
