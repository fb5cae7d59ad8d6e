import { Gauge, type Registry } from 'prom-client';
import type { ConveyorStatus, QueueStatus } from '@conveyor/shared';

/** The queue states `conveyor_queue_jobs` exports (BullMQ's kept `completed` count is not one). */
export const QUEUE_JOB_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed'] as const;

export interface QueueMetricsOptions {
  /** Reads the status from Redis (`client.status()`). */
  status: () => Promise<ConveyorStatus>;
  /** Scrapes within this long of a read share it, in ms. Default 1000. */
  cacheMs?: number;
  /** A read that takes longer counts as failed, in ms. Default 2000. */
  timeoutMs?: number;
}

/** A status, or why there is none. */
type Read = { ok: true; status: ConveyorStatus } | { ok: false };

/** Settles like `promise`, or with `{ ok: false }` after `ms`: a frozen Redis never holds a scrape. */
async function within(promise: Promise<ConveyorStatus>, ms: number): Promise<Read> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Read>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false }), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (status): Read => ({ ok: true, status }),
        (): Read => ({ ok: false }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The backlog of a queue as a gauge value: `+Inf` when jobs wait and no live worker serves the
 * version (the status says null: no one will do them), undefined when it is not known otherwise.
 */
export function backlogValue(queue: QueueStatus): number | undefined {
  if (queue.backlogSeconds !== null) return queue.backlogSeconds;
  const waiting = queue.counts.waiting + queue.counts.prioritized;
  return queue.workers === 0 && waiting > 0 ? Number.POSITIVE_INFINITY : undefined;
}

/**
 * Per-queue gauges read from the status at scrape time: jobs by state, the oldest wait, live
 * workers and the backlog in seconds, by model and version. Scrapes share one read for `cacheMs`.
 * A failed or late read leaves the queue gauges empty and sets `conveyor_status_up` to 0; the
 * scrape itself never fails.
 */
export function registerQueueMetrics(registry: Registry, options: QueueMetricsOptions): void {
  const cacheMs = options.cacheMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 2000;
  let cached: { at: number; read: Promise<Read> } | undefined;
  const read = (): Promise<Read> => {
    const now = Date.now();
    if (!cached || now - cached.at >= cacheMs) {
      const status = (async () => options.status())();
      cached = { at: now, read: within(status, timeoutMs) };
    }
    return cached.read;
  };

  const registers = [registry];
  const byVersion = ['model', 'version'] as const;
  /** A gauge filled from the queues of the status at each scrape; empty without a status. */
  const perQueue = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (gauge: Gauge<L>, queue: QueueStatus) => void,
  ) => {
    const gauge: Gauge<L> = new Gauge({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        const result = await read();
        gauge.reset();
        if (result.ok) for (const queue of result.status.queues) fill(gauge, queue);
      },
    });
  };

  perQueue(
    'conveyor_queue_jobs',
    'Jobs in the queue of a model version, by state: waiting, prioritized, delayed, active, failed (kept failed jobs).',
    ['model', 'version', 'state'],
    (gauge, { model, version, counts }) => {
      for (const state of QUEUE_JOB_STATES) gauge.set({ model, version, state }, counts[state]);
    },
  );
  perQueue(
    'conveyor_queue_oldest_waiting_seconds',
    'Age of the oldest job waiting (waiting or prioritized) to be taken; 0 when none waits.',
    byVersion,
    (gauge, { model, version, oldestWaitingSeconds }) =>
      gauge.set({ model, version }, oldestWaitingSeconds ?? 0),
  );
  perQueue(
    'conveyor_queue_workers',
    'Live workers that serve the model version now (from the worker registry).',
    byVersion,
    (gauge, { model, version, workers }) => gauge.set({ model, version }, workers),
  );
  perQueue(
    'conveyor_queue_backlog_seconds',
    'Seconds of work waiting: (waiting + prioritized) x recent service time per job / live workers; +Inf while jobs wait and no worker serves the version.',
    byVersion,
    (gauge, queue) => {
      const value = backlogValue(queue);
      if (value !== undefined) gauge.set({ model: queue.model, version: queue.version }, value);
    },
  );

  const up: Gauge = new Gauge({
    name: 'conveyor_status_up',
    help: 'Whether the last read of the queue status from Redis succeeded within its bound (1) or not (0); the conveyor_queue_* gauges are absent while it is 0.',
    registers,
    async collect() {
      up.set((await read()).ok ? 1 : 0);
    },
  });
}
