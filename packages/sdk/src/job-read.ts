import { Job, type Queue } from 'bullmq';

/**
 * A job by id, as BullMQ's `getJob` reads it, except that data which is not JSON (written into
 * Redis around the SDK; the worker fails such a job) does not make the read throw: the job comes
 * back with its data as the raw string, so its state and failure can still be reported. The one
 * reader of a job's hash for the SDK and the producer.
 */
export async function getJobKeepingRawData(queue: Queue, id: string): Promise<Job | undefined> {
  try {
    return await queue.getJob(id);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    const json = await queue.getBackend().getJobData(id);
    return json ? Job.fromJSON(queue, { ...json, data: JSON.stringify(json.data) }, id) : undefined;
  }
}
