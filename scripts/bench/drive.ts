/** Drives one-row jobs through the SDK in bulk with a sliding window and waits for every result. */
import type { ConveyorClient } from '@conveyor/sdk';
import { chunks, timed } from './lib.js';
import { oneRowInputs, type Workload } from './workloads.js';

/** Iris jobs waited on at once, in every bulk scenario (plain BullMQ's too). */
export const WINDOW = 2000;

/**
 * Image jobs waited on at once: 256 of 110 KB keep a worker fed (a third of a second of its work)
 * while Redis holds 28 MB of inputs. With 2,000 (220 MB) Redis faulted in fresh memory for most
 * of each short run (20 minor page faults per job), a third of its CPU per job.
 */
export const IMAGE_WINDOW = 256;

export interface DriveResult {
  jobsPerSecond: number;
  failed: number;
  meanBatchRows: number;
}

/** Sends `jobs` one-row jobs of `workload` to `model` and waits for every result. */
export async function driveEndToEnd(
  client: ConveyorClient,
  model: string,
  workload: Workload,
  jobs: number,
  window = workload === 'iris' ? WINDOW : IMAGE_WINDOW,
): Promise<DriveResult> {
  const item = { inputs: oneRowInputs(workload) };
  let failed = 0;
  let firstError: unknown;
  let batchRows = 0;
  const { ms } = await timed(async () => {
    // At most `window` jobs waited on at once keeps the driver's memory bounded, and enqueueing
    // goes on while results come back, so the worker never waits for the driver.
    const pending = new Set<Promise<void>>();
    for (const part of chunks(
      Array.from({ length: jobs }),
      Math.min(250, Math.floor(window / 4)),
    )) {
      while (pending.size + part.length > window) await Promise.race(pending);
      const handles = await client.enqueueMany(
        model,
        part.map(() => item),
      );
      for (const handle of handles) {
        const done: Promise<void> = handle
          .result({ timeoutMs: 120_000 })
          .then(
            (prediction) => {
              batchRows += (prediction.timings as { batchRows?: number }).batchRows ?? 1;
            },
            (error: unknown) => {
              failed += 1;
              firstError ??= error;
            },
          )
          .finally(() => pending.delete(done));
        pending.add(done);
      }
    }
    await Promise.all(pending);
  });
  // A rate of failures is no measure: the scenario fails instead of reporting it.
  if (failed > 0)
    throw new Error(
      `${failed} of ${jobs} ${model} jobs failed, the first with: ${firstError instanceof Error ? firstError.message : String(firstError)}`,
    );
  return {
    jobsPerSecond: (jobs / ms) * 1000,
    failed,
    meanBatchRows: batchRows / Math.max(1, jobs - failed),
  };
}
