import { describe, expect, it } from 'vitest';
import { StatusHistorySchema } from './schemas/status-history.js';
import type { ConveyorStatus, WorkerVersion } from './schemas/status.js';
import { createStatusHistory } from './status-history.js';

const T0 = 1_700_000_000_000;

const held = (counts: Partial<WorkerVersion> = {}): WorkerVersion => ({
  model: 'iris',
  version: '1',
  state: 'ready',
  jobsActive: 0,
  completed: 0,
  failed: 0,
  failuresByCode: {},
  batchTargetRows: 1,
  rowsPerSecond: 0,
  serviceSecondsPerJob: null,
  latency: null,
  ...counts,
});

const worker = (id: string, startedAt: number, versions: WorkerVersion[]) => ({
  id,
  host: 'h',
  pid: 1,
  conveyorVersion: '0.1.0',
  state: 'ready' as const,
  startedAt,
  beatAt: startedAt,
  versions,
});

/** A status at T0 + `s` seconds with the given workers and an iris queue of `waiting` jobs. */
const status = (s: number, workers: ReturnType<typeof worker>[], waiting = 0): ConveyorStatus => ({
  at: T0 + s * 1000,
  models: [
    {
      name: 'iris',
      versions: [{ version: '1', state: 'ready', ready: true, workers: 1 }],
      aliases: {},
    },
  ],
  queues: [
    {
      model: 'iris',
      version: '1',
      counts: { waiting, prioritized: 0, delayed: 0, active: 0, failed: 0, completed: 0 },
      oldestWaitingSeconds: waiting > 0 ? 1 : null,
      workers: workers.length,
      serviceSecondsPerJob: 0.01,
      backlogSeconds: waiting * 0.01,
    },
  ],
  workers,
  failures: [],
});

describe('the status history', () => {
  it('turns cumulative counters into jobs per second, null for the first sample', () => {
    const history = createStatusHistory({ sampleMs: 1000, windowMs: 60_000 });
    history.add(status(0, [worker('w1', T0 - 60_000, [held({ completed: 100 })])], 4));
    history.add(status(2, [worker('w1', T0 - 60_000, [held({ completed: 120, failed: 2 })])], 6));
    const view = StatusHistorySchema.parse(history.view());
    expect(view.at).toEqual([T0, T0 + 2000]);
    const [iris] = view.versions;
    expect(iris?.completedPerSecond).toEqual([null, 10]);
    expect(iris?.failedPerSecond).toEqual([null, 1]);
    expect(iris?.depth).toEqual([4, 6]);
    expect(iris?.backlogSeconds).toEqual([0.04, 0.06]);
  });

  it("sums the rates of several workers and takes the slowest worker's latency", () => {
    const history = createStatusHistory({ sampleMs: 1000, windowMs: 60_000 });
    const slow = { p50: 0.2, p95: 0.5, p99: 0.9 };
    const fast = { p50: 0.1, p95: 0.2, p99: 0.3 };
    history.add(
      status(0, [worker('a', T0 - 1, [held({ completed: 5 })]), worker('b', T0 - 1, [held()])]),
    );
    history.add(
      status(1, [
        worker('a', T0 - 1, [held({ completed: 8, latency: fast })]),
        worker('b', T0 - 1, [held({ completed: 4, latency: slow })]),
      ]),
    );
    const [iris] = history.view().versions;
    expect(iris?.completedPerSecond).toEqual([null, 7]);
    expect(iris?.p99).toEqual([null, 0.9]);
    expect(iris?.p50).toEqual([null, 0.2]);
  });

  it('counts a restarted worker from zero, not as a negative rate', () => {
    const history = createStatusHistory({ sampleMs: 1000, windowMs: 60_000 });
    history.add(status(0, [worker('w1', T0 - 10_000, [held({ completed: 500 })])]));
    // Same id, counters reset by a restart: 3 jobs since.
    history.add(status(1, [worker('w1', T0 + 500, [held({ completed: 3 })])]));
    // A new worker that started after the last sample: all of its jobs count.
    history.add(
      status(2, [
        worker('w1', T0 + 500, [held({ completed: 5 })]),
        worker('w2', T0 + 1500, [held({ completed: 4 })]),
      ]),
    );
    // A worker back from silence, started long ago: no baseline, it counts nothing this time.
    history.add(
      status(3, [
        worker('w1', T0 + 500, [held({ completed: 5 })]),
        worker('w2', T0 + 1500, [held({ completed: 4 })]),
        worker('w3', T0 - 99_000, [held({ completed: 9000 })]),
      ]),
    );
    expect(history.view().versions[0]?.completedPerSecond).toEqual([null, 3, 6, 0]);
  });

  it('counts failures by code within the window, a reset included', () => {
    const history = createStatusHistory({ sampleMs: 1000, windowMs: 60_000 });
    const w = (byCode: Record<string, number>) =>
      worker('w1', T0 - 1, [held({ failuresByCode: byCode })]);
    history.add(status(0, [w({ ERR_VALIDATION: 10 })]));
    history.add(status(1, [w({ ERR_VALIDATION: 12, ERR_JOB_TIMEOUT: 1 })]));
    history.add(status(2, [w({ ERR_VALIDATION: 1 })]));
    expect(history.view().failures).toEqual([
      { model: 'iris', version: '1', code: 'ERR_VALIDATION', count: 3 },
      { model: 'iris', version: '1', code: 'ERR_JOB_TIMEOUT', count: 1 },
    ]);
  });

  it('keeps at most windowMs / sampleMs + 1 samples, dropping the oldest', () => {
    const history = createStatusHistory({ sampleMs: 1000, windowMs: 5000 });
    expect(history.capacity).toBe(6);
    for (let s = 0; s < 20; s++)
      history.add(status(s, [worker('w1', T0 - 1, [held({ completed: s * 2 })])], s));
    const view = history.view();
    expect(view.at).toHaveLength(6);
    expect(view.at[0]).toBe(T0 + 14_000);
    expect(view.versions[0]?.depth).toEqual([14, 15, 16, 17, 18, 19]);
    expect(view.versions[0]?.completedPerSecond).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it('lists a version that appears later with nulls before it', () => {
    const history = createStatusHistory({ sampleMs: 1000, windowMs: 60_000 });
    history.add(status(0, []));
    const later = status(1, [worker('w1', T0 + 100, [held({ version: '2', completed: 2 })])]);
    history.add(later);
    const v2 = history.view().versions.find((v) => v.version === '2');
    expect(v2?.completedPerSecond).toEqual([null, 2]);
    expect(v2?.depth).toEqual([null, null]);
  });
});
