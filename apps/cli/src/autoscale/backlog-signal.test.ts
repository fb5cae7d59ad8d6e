import { describe, expect, it } from 'vitest';
import type { ConveyorStatus, QueueStatus } from '@conveyor/shared';
import { backlogSignal } from './backlog-signal.js';

const queue = (
  model: string,
  version: string,
  waiting: number,
  workers: number,
  service: number | null,
): QueueStatus => ({
  model,
  version,
  counts: { waiting, prioritized: 0, delayed: 0, active: 0, failed: 0, completed: 0 },
  oldestWaitingSeconds: waiting > 0 ? 1 : null,
  workers,
  serviceSecondsPerJob: service,
  backlogSeconds:
    waiting === 0 ? 0 : workers === 0 || service === null ? null : (waiting * service) / workers,
});

const status = (...queues: QueueStatus[]): ConveyorStatus => ({
  at: 0,
  models: [],
  queues,
  workers: [],
  failures: [],
});

describe('backlogSignal', () => {
  it('takes the highest backlog among the versions and sums their work', () => {
    const signal = backlogSignal(
      status(
        queue('iris', '1', 10, 2, 0.5),
        queue('iris', '2', 4, 1, 1),
        queue('other', '1', 99, 1, 9),
      ),
      ['iris'],
    );
    expect(signal).toEqual({ kind: 'measured', backlogSeconds: 4, workSeconds: 9, waiting: 14 });
  });

  it('says no-worker when jobs wait for a version no live worker serves, like the +Inf gauge', () => {
    expect(backlogSignal(status(queue('iris', '1', 3, 0, 0.1)), ['iris'])).toEqual({
      kind: 'no-worker',
      waiting: 3,
    });
  });

  it('says unknown when the live workers have not measured a job yet', () => {
    expect(backlogSignal(status(queue('iris', '1', 3, 1, null)), ['iris']).kind).toBe('unknown');
  });

  it('reads a model without a queue, or an empty one, as nothing waiting', () => {
    expect(backlogSignal(status(queue('iris', '1', 0, 0, null)), ['iris', 'ocr'])).toEqual({
      kind: 'measured',
      backlogSeconds: 0,
      workSeconds: 0,
      waiting: 0,
    });
  });
});
