import { ConveyorError } from '@conveyor/shared';
import type { JobEvent, Prediction } from '../client.js';
import { listen, type TableJob } from './table-job.js';

export const jobNotFound = (id: string, model: string, why = 'does not exist (or was trimmed)') =>
  new ConveyorError('ERR_JOB_NOT_FOUND', `job ${id} of model "${model}" ${why}`, {
    details: { jobId: id, model },
  });

/** The waits for jobs' results in flight, so that closing the table can end them all. */
export function createWaits() {
  const aborts = new Set<(error: ConveyorError) => void>();

  /** Resolves with the job's prediction, or rejects as a queue wait would. */
  function wait(job: TableJob, timeoutMs: number): Promise<Prediction> {
    return new Promise<Prediction>((resolve, reject) => {
      const settle = () => {
        if (!job.outcome) return false;
        if (job.outcome.ok) resolve(job.outcome.prediction);
        else reject(job.outcome.error);
        return true;
      };
      if (settle()) return;
      const done = () => {
        clearTimeout(timer);
        stop();
        aborts.delete(abort);
      };
      const abort = (error: ConveyorError) => {
        done();
        reject(error);
      };
      const stop = listen(job, (event: JobEvent) => {
        if (event.type !== 'state') return;
        if (event.state === 'unknown')
          abort(jobNotFound(job.id, job.model, 'was removed while waiting'));
        else if (settle()) done();
      });
      const timer = setTimeout(() => {
        abort(
          new ConveyorError(
            'ERR_JOB_TIMEOUT',
            `job ${job.id} did not finish within ${timeoutMs} ms; it is ${job.state}, fetch its result later`,
            { details: { jobId: job.id, model: job.model, state: job.state } },
          ),
        );
      }, timeoutMs);
      aborts.add(abort);
    });
  }

  return {
    wait,
    /** Rejects every wait in flight with `error`. */
    abortAll(error: ConveyorError): void {
      for (const abort of [...aborts]) abort(error);
    },
  };
}
