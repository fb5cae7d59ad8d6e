import type { ConveyorStatus } from '@conveyor/shared';

/**
 * What the autoscaler decides on, read from `client.status()` for the models it scales:
 * - `measured`: `backlogSeconds` is the highest backlog in seconds of work among their versions
 *   (the `conveyor_queue_backlog_seconds` gauge), `workSeconds` the work waiting in all of them
 *   (each version's backlog times its live workers);
 * - `no-worker`: jobs wait for a version no live worker serves (the gauge's `+Inf`);
 * - `unknown`: jobs wait, and the workers serving them have not measured a job yet.
 */
export type BacklogSignal =
  | {
      readonly kind: 'measured';
      readonly backlogSeconds: number;
      readonly workSeconds: number;
      readonly waiting: number;
    }
  | { readonly kind: 'no-worker'; readonly waiting: number }
  | { readonly kind: 'unknown'; readonly waiting: number };

/**
 * The signal of the given models in a status. A model no worker ever announced (or whose
 * announcement expired) has no queue in the status: nothing waits for it.
 */
export function backlogSignal(status: ConveyorStatus, models: readonly string[]): BacklogSignal {
  let backlogSeconds = 0;
  let workSeconds = 0;
  let waiting = 0;
  let noWorker = false;
  let unknown = false;
  for (const queue of status.queues) {
    if (!models.includes(queue.model)) continue;
    const jobs = queue.counts.waiting + queue.counts.prioritized;
    waiting += jobs;
    if (queue.backlogSeconds !== null) {
      backlogSeconds = Math.max(backlogSeconds, queue.backlogSeconds);
      workSeconds += queue.backlogSeconds * queue.workers;
    } else if (jobs > 0 && queue.workers === 0) noWorker = true;
    else if (jobs > 0) unknown = true;
  }
  if (noWorker) return { kind: 'no-worker', waiting };
  if (unknown) return { kind: 'unknown', waiting };
  return { kind: 'measured', backlogSeconds, workSeconds, waiting };
}
