import { Queue } from 'bullmq';
import { queueOfJobId, queuePrefix } from '@conveyor/shared';
import type { Connection } from './connection.js';

/** The client's BullMQ queues (one per model version), opened on first use and shared. */
export interface QueueCache {
  named(name: string): Queue;
  /**
   * A handle for reads only (counts, status): it never writes the queue's metadata, which a
   * Queue otherwise does on connect (its event-stream cap), undoing the workers' EVENTS_MAX_LEN.
   */
  readOnly(name: string): Queue;
  /** The queue of a job id. */
  ofJob(jobId: string): Queue;
  close(): Promise<void>;
}

export function createQueueCache({ redis, config, log }: Connection): QueueCache {
  const queues = new Map<string, Queue>();
  const readers = new Map<string, Queue>();
  const open = (name: string, cache: Map<string, Queue>, readOnly: boolean): Queue => {
    let queue = cache.get(name);
    if (!queue) {
      queue = new Queue(
        name,
        readOnly
          ? { connection: redis, prefix: queuePrefix(config.prefix, name), skipMetasUpdate: true }
          : {
              connection: redis,
              prefix: queuePrefix(config.prefix, name),
              streams: { events: { maxLen: config.eventsMaxLen } },
            },
      );
      queue.on('error', (err: Error) => log.warn({ err, queue: name }, 'queue error'));
      cache.set(name, queue);
    }
    return queue;
  };
  const named = (name: string): Queue => open(name, queues, false);
  return {
    named,
    readOnly: (name) => open(name, readers, true),
    ofJob: (jobId) => named(queueOfJobId(jobId)),
    async close() {
      await Promise.allSettled([...queues.values(), ...readers.values()].map((q) => q.close()));
    },
  };
}
