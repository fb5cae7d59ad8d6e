import { Queue } from 'bullmq';
import { queueOfJobId } from '@conveyor/shared';
import type { Connection } from './connection.js';

/** The client's BullMQ queues (one per model version), opened on first use and shared. */
export interface QueueCache {
  named(name: string): Queue;
  /** The queue of a job id. */
  ofJob(jobId: string): Queue;
  close(): Promise<void>;
}

export function createQueueCache({ redis, config, log }: Connection): QueueCache {
  const queues = new Map<string, Queue>();
  const named = (name: string): Queue => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: redis,
        prefix: config.prefix,
        streams: { events: { maxLen: config.eventsMaxLen } },
      });
      queue.on('error', (err: Error) => log.warn({ err, queue: name }, 'queue error'));
      queues.set(name, queue);
    }
    return queue;
  };
  return {
    named,
    ofJob: (jobId) => named(queueOfJobId(jobId)),
    async close() {
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
    },
  };
}
