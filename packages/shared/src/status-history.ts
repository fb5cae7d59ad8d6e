import { compareVersions } from './schemas/names.js';
import type { ConveyorStatus, WorkerVersion } from './schemas/status.js';
import type { FailureCount, StatusHistory, VersionHistory } from './schemas/status-history.js';

/** What one sample says of one model version, before it becomes a column. */
interface VersionPoint {
  completedPerSecond: number | null;
  failedPerSecond: number | null;
  depth: number | null;
  active: number | null;
  backlogSeconds: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

interface Sample {
  at: number;
  versions: Map<string, VersionPoint>;
  /** Failed attempts since the sample before, by `versionKey` and code. */
  failures: Map<string, Map<string, number>>;
}

/** A worker's cumulative counters of one version, as its heartbeat record holds them. */
interface Counters {
  startedAt: number;
  completed: number;
  failed: number;
  failuresByCode: Readonly<Record<string, number>>;
}

/** The previous sample's counters by worker id, then by `versionKey`. */
type CounterIndex = Map<string, Map<string, Counters>>;

const KEY_SEPARATOR = '\u0000';
const versionKey = (model: string, version: string) => `${model}${KEY_SEPARATOR}${version}`;
const splitKey = (key: string) => {
  const [model = '', version = ''] = key.split(KEY_SEPARATOR);
  return { model, version };
};

const EMPTY_POINT: VersionPoint = {
  completedPerSecond: null,
  failedPerSecond: null,
  depth: null,
  active: null,
  backlogSeconds: null,
  p50: null,
  p95: null,
  p99: null,
};

export interface StatusHistoryOptions {
  /** Time between two samples, in ms. */
  sampleMs: number;
  /** How much history to keep, in ms; the buffer holds windowMs / sampleMs + 1 samples. */
  windowMs: number;
}

/** The bounded history of status samples, with rates derived from the workers' counters. */
export interface StatusHistoryBuffer {
  /** Adds a status read; the oldest sample goes when the buffer is full. */
  add(status: ConveyorStatus): void;
  /** The samples held, as columns. */
  view(): StatusHistory;
  /** How many samples it holds at most. */
  readonly capacity: number;
}

/**
 * Counters done since the sample before. A worker seen in that sample (or started after it)
 * counts from its previous value, or from zero; a counter that went down means the worker
 * restarted under the same id and counts from zero again. A worker that started before the
 * previous sample without being in it (silent, then back) has no baseline and counts nothing.
 */
function counterDelta(
  now: Counters,
  before: Counters | undefined,
  workerSeen: boolean,
  previousAt: number,
): Omit<Counters, 'startedAt'> {
  if (before === undefined) {
    const fresh = workerSeen || now.startedAt >= previousAt;
    return fresh ? now : { completed: 0, failed: 0, failuresByCode: {} };
  }
  const reset =
    now.startedAt !== before.startedAt ||
    now.completed < before.completed ||
    now.failed < before.failed ||
    Object.entries(before.failuresByCode).some(([code, n]) => (now.failuresByCode[code] ?? 0) < n);
  if (reset) return now;
  const failuresByCode: Record<string, number> = {};
  for (const [code, n] of Object.entries(now.failuresByCode)) {
    const delta = n - (before.failuresByCode[code] ?? 0);
    if (delta > 0) failuresByCode[code] = delta;
  }
  return {
    completed: now.completed - before.completed,
    failed: now.failed - before.failed,
    failuresByCode,
  };
}

const countersOf = (status: ConveyorStatus): CounterIndex =>
  new Map(
    status.workers.map((w) => [
      w.id,
      new Map(
        w.versions.map((v) => [versionKey(v.model, v.version), { ...v, startedAt: w.startedAt }]),
      ),
    ]),
  );

const worst = (values: readonly WorkerVersion[], pick: 'p50' | 'p95' | 'p99'): number | null => {
  const known = values.flatMap((v) => (v.latency === null ? [] : [v.latency[pick]]));
  return known.length === 0 ? null : Math.max(...known);
};

/** One sample from a status and the counters of the sample before (none for the first). */
function sampleOf(
  status: ConveyorStatus,
  previous: { at: number; counters: CounterIndex } | undefined,
): Sample {
  const keys = new Set<string>();
  for (const m of status.models)
    for (const v of m.versions) keys.add(versionKey(m.name, v.version));
  for (const q of status.queues) keys.add(versionKey(q.model, q.version));
  const byVersion = new Map<string, WorkerVersion[]>();
  for (const w of status.workers)
    for (const v of w.versions) {
      const key = versionKey(v.model, v.version);
      keys.add(key);
      byVersion.set(key, [...(byVersion.get(key) ?? []), v]);
    }

  const done = new Map<string, { completed: number; failed: number }>();
  const failures = new Map<string, Map<string, number>>();
  if (previous !== undefined) {
    for (const w of status.workers) {
      const before = previous.counters.get(w.id);
      for (const v of w.versions) {
        const key = versionKey(v.model, v.version);
        const delta = counterDelta(
          { ...v, startedAt: w.startedAt },
          before?.get(key),
          before !== undefined,
          previous.at,
        );
        const sum = done.get(key) ?? { completed: 0, failed: 0 };
        done.set(key, {
          completed: sum.completed + delta.completed,
          failed: sum.failed + delta.failed,
        });
        const codes = failures.get(key) ?? new Map<string, number>();
        for (const [code, n] of Object.entries(delta.failuresByCode))
          if (n > 0) codes.set(code, (codes.get(code) ?? 0) + n);
        if (codes.size > 0) failures.set(key, codes);
      }
    }
  }

  const elapsedS = previous === undefined ? 0 : (status.at - previous.at) / 1000;
  const perSecond = (n: number | undefined) => (elapsedS > 0 ? (n ?? 0) / elapsedS : null);
  const versions = new Map<string, VersionPoint>();
  for (const key of keys) {
    const { model, version } = splitKey(key);
    const queue = status.queues.find((q) => q.model === model && q.version === version);
    const held = byVersion.get(key) ?? [];
    versions.set(key, {
      completedPerSecond: perSecond(done.get(key)?.completed),
      failedPerSecond: perSecond(done.get(key)?.failed),
      depth: queue === undefined ? null : queue.counts.waiting + queue.counts.prioritized,
      active: queue?.counts.active ?? null,
      backlogSeconds: queue?.backlogSeconds ?? null,
      p50: worst(held, 'p50'),
      p95: worst(held, 'p95'),
      p99: worst(held, 'p99'),
    });
  }
  return { at: status.at, versions, failures };
}

const byModelVersion = (a: string, b: string) => {
  const x = splitKey(a);
  const y = splitKey(b);
  return x.model === y.model ? compareVersions(x.version, y.version) : x.model < y.model ? -1 : 1;
};

function columns(samples: readonly Sample[]): VersionHistory[] {
  const keys = [...new Set(samples.flatMap((s) => [...s.versions.keys()]))].sort(byModelVersion);
  return keys.map((key) => {
    const points = samples.map((s) => s.versions.get(key) ?? EMPTY_POINT);
    const column = (field: keyof VersionPoint) => points.map((p) => p[field]);
    return {
      ...splitKey(key),
      completedPerSecond: column('completedPerSecond'),
      failedPerSecond: column('failedPerSecond'),
      depth: column('depth'),
      active: column('active'),
      backlogSeconds: column('backlogSeconds'),
      p50: column('p50'),
      p95: column('p95'),
      p99: column('p99'),
    };
  });
}

function failureCounts(samples: readonly Sample[]): FailureCount[] {
  const totals = new Map<string, Map<string, number>>();
  for (const s of samples)
    for (const [key, codes] of s.failures) {
      const sum = totals.get(key) ?? new Map<string, number>();
      for (const [code, n] of codes) sum.set(code, (sum.get(code) ?? 0) + n);
      totals.set(key, sum);
    }
  return [...totals]
    .flatMap(([key, codes]) =>
      [...codes].map(([code, count]) => ({ ...splitKey(key), code, count })),
    )
    .sort(
      (a, b) =>
        b.count - a.count ||
        byModelVersion(versionKey(a.model, a.version), versionKey(b.model, b.version)) ||
        (a.code < b.code ? -1 : 1),
    );
}

/**
 * A ring of status samples for the dashboard (and `conveyor queues --watch`): per model version,
 * jobs completed and failed per second (from the differences of the workers' cumulative counters
 * between two samples), queue depth, backlog and latency percentiles, and failed attempts by code
 * within the window.
 */
export function createStatusHistory(options: StatusHistoryOptions): StatusHistoryBuffer {
  const capacity = Math.max(2, Math.ceil(options.windowMs / options.sampleMs) + 1);
  const samples: Sample[] = [];
  let previous: { at: number; counters: CounterIndex } | undefined;
  return {
    capacity,
    add(status) {
      samples.push(sampleOf(status, previous));
      if (samples.length > capacity) samples.splice(0, samples.length - capacity);
      previous = { at: status.at, counters: countersOf(status) };
    },
    view() {
      return {
        sampleMs: options.sampleMs,
        windowMs: options.windowMs,
        at: samples.map((s) => s.at),
        versions: columns(samples),
        failures: failureCounts(samples),
      };
    },
  };
}
