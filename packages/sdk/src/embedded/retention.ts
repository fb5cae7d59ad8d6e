import type { TableJob } from './table-job.js';

/** How long finished jobs are kept, like BullMQ's removeOnComplete / removeOnFail. */
export interface Retention {
  count: number;
  ageSeconds: number;
}

/**
 * The finished jobs of the table, completed and failed apart, oldest first. Jobs past their
 * retention (by count, or by age) are dropped, as BullMQ trims them; `drop` removes them from the
 * table too.
 */
export function createRetention(
  keep: { completed: Retention; failed: Retention },
  drop: (id: string) => void,
) {
  const finished = { completed: new Map<string, TableJob>(), failed: new Map<string, TableJob>() };
  const trim = (): void => {
    const now = Date.now();
    for (const kind of ['completed', 'failed'] as const) {
      const { count, ageSeconds } = keep[kind];
      const list = finished[kind];
      for (const [id, job] of list) {
        const old = now - (job.finishedAt ?? now) > ageSeconds * 1000;
        if (list.size <= count && !old) break;
        list.delete(id);
        drop(id);
      }
    }
  };
  return {
    trim,
    /** Keeps a job that has just finished, then trims. */
    keep(job: TableJob, kind: 'completed' | 'failed'): void {
      finished[kind].set(job.id, job);
      trim();
    },
  };
}
