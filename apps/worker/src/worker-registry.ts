/**
 * The worker's heartbeat record (WorkerRecordSchema) in Redis: written with every beat of the
 * health connection (see redis-health.ts), read by the SDK's `client.workers()` and
 * `client.status()`. Jobs are counted by VersionStats, which wraps the Prometheus recorders the
 * processor already calls.
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import {
  WORKER_RECORD_TTL_MS,
  workerRecordKey,
  type WorkerRecord,
  type WorkerState,
  type WorkerVersion,
} from '@conveyor/shared';
import { NO_JOB_METRICS, type JobMetrics, type MetricsSource } from './metrics.js';
import type { BeatRecord } from './redis-health.js';
import { VersionStats } from './version-stats.js';

/** The worker's version, from its package.json (src/ and dist/ are both one level under it). */
export const WORKER_VERSION: string = String(
  (createRequire(import.meta.url)('../package.json') as { version?: unknown }).version,
);

/** This worker's entry in the registry, written with each beat. */
export interface WorkerRegistry extends BeatRecord {
  /**
   * The recorder of a version's jobs: counts them for the record and passes each call on to
   * `inner` (its Prometheus recorders). Made once per version, then the same object.
   */
  jobs(model: string, version: string, concurrency: number, inner?: JobMetrics): JobMetrics;
  /** Sets the worker's state, as the next beat writes it. */
  setState(state: WorkerState): void;
  /** The record the next beat writes, with its Redis-clock times as of the last beat. */
  record(): WorkerRecord;
}

/** Builds the registry of a worker whose versions and jobs are read from `source`. */
export function createWorkerRegistry(options: {
  id: string;
  prefix: string;
  source: () => MetricsSource | undefined;
  /** Time the record outlives its last beat, ms; WORKER_RECORD_TTL_MS unless a test needs less. */
  ttlMs?: number | undefined;
}): WorkerRegistry {
  const { id } = options;
  const stats = new Map<string, VersionStats>();
  let state: WorkerState = 'starting';
  let startedAt: number | undefined;
  let beatAt = 0;

  const versionsOf = (source: MetricsSource | undefined): WorkerVersion[] => {
    if (!source) return [];
    const list: WorkerVersion[] = [];
    for (const v of source.versions()) {
      // A version that failed to load is a problem of the repository, not a version it holds.
      if (v.state === 'failed' || v.version === '') continue;
      const counted = stats.get(`${v.model}@${v.version}`);
      const batching = v.state === 'loading' ? undefined : source.batching(v.model, v.version);
      list.push({
        model: v.model,
        version: v.version,
        state: v.state,
        jobsActive: source.activeJobs(v.model, v.version),
        completed: counted?.completedJobs ?? 0,
        failed: counted?.failedJobs ?? 0,
        failuresByCode: Object.fromEntries(counted?.failuresByCode ?? []),
        batchTargetRows: batching?.targetRows ?? 0,
        rowsPerSecond: batching?.rowsPerSecond ?? 0,
        serviceSecondsPerJob: counted?.serviceSecondsPerJob() ?? null,
        latency: counted?.latency() ?? null,
      });
    }
    return list;
  };
  const head = () => ({
    id,
    host: hostname(),
    pid: process.pid,
    conveyorVersion: WORKER_VERSION,
    state,
    versions: versionsOf(options.source()),
  });

  return {
    key: workerRecordKey(options.prefix, id),
    ttlMs: options.ttlMs ?? WORKER_RECORD_TTL_MS,
    get startedAt() {
      return startedAt;
    },
    // The beat appends startedAt and beatAt, by the Redis server's clock, and the closing brace.
    body: () => JSON.stringify(head()).slice(0, -1),
    stamped(ms) {
      startedAt ??= ms;
      beatAt = ms;
    },
    jobs(model, version, concurrency, inner = NO_JOB_METRICS) {
      const key = `${model}@${version}`;
      let counted = stats.get(key);
      if (!counted) stats.set(key, (counted = new VersionStats(inner, concurrency)));
      counted.concurrency = concurrency;
      return counted;
    },
    setState(next) {
      state = next;
    },
    record: () => ({ ...head(), startedAt: startedAt ?? beatAt, beatAt }),
  };
}
